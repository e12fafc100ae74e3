//! `POST /segments/{id}/call-list`: a planned call for each member who may and can be called,
//! assigned to their owner or spread over the people named, on days no one's agenda overflows
//! (`domain::call_list`).

use std::collections::{BTreeMap, HashMap, HashSet};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Date, Integer, Text, Timestamptz, Uuid as SqlUuid};
use serde::{Deserialize, Serialize};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};
use validator::Validate;

use crate::api::BOOKKEEPING;
use crate::api::activities::write::snapshot;
use crate::api::search::segment_condition;
use crate::auth::{Principal, run_seeing};
use crate::db::fragment::SqlFragment;
use crate::db::json::Json;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::segment::Segment;
use crate::db::models::{Activity, NewChangeEvent, Workspace};
use crate::db::schema::{clients, users};
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::domain::agenda::{day_window, local_date};
use crate::domain::call_list::{self, DEFAULT_PER_DAY, MAX_CALLS, MAX_PER_DAY};
use crate::domain::enums::{ActivityKind, ContactReason, Direction};
use crate::domain::text::non_blank;
use crate::error::ApiError;
use crate::ids::{ActivityId, ClientId, SegmentId, UserId, WorkspaceId};
use crate::state::AppState;

/// Who makes the calls: `"owner"`, each client's owner; or a list of users, over whom the calls
/// are spread in turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Assignees {
    Owners,
    Users(Vec<UserId>),
}

impl<'de> Deserialize<'de> for Assignees {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Word(String),
            Users(Vec<UserId>),
        }
        match Written::deserialize(deserializer) {
            Ok(Written::Word(word)) if word == "owner" => Ok(Assignees::Owners),
            Ok(Written::Users(users)) => Ok(Assignees::Users(users)),
            _ => Err(serde::de::Error::custom("must be \"owner\" or a list of user ids")),
        }
    }
}

impl PartialSchema for Assignees {
    fn schema() -> RefOr<Schema> {
        crate::api::schemas::written(serde_json::json!({
            "description": "`owner`: each client's owner calls them. A list of 1 to 100 user ids: the calls are \
                            spread over them in turn, the most valuable clients first.",
            "oneOf": [
                {"type": "string", "enum": ["owner"]},
                {"type": "array", "items": {"type": "string", "format": "uuid"}, "minItems": 1, "maxItems": 100,
                 "uniqueItems": true}
            ],
            "examples": ["owner"]
        }))
    }
}

impl ToSchema for Assignees {}

/// What calls to plan for a segment's members.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "assignees": "owner", "per_day": 20, "subject": "Your usual order is waiting", "reason": "order_waiting"
}))]
pub struct CallListRequest {
    pub assignees: Assignees,
    /// The first day the calls fall due, in the workspace's time zone: today when omitted, never
    /// earlier. Each call is due by the end of its day.
    #[serde(default)]
    pub due_from: Option<NaiveDate>,
    /// The most planned calls one person gets a day, counting those planned for them already:
    /// 20 when omitted.
    #[serde(default)]
    #[validate(range(min = 1, max = 500))]
    #[schema(minimum = 1, maximum = 500)]
    pub per_day: Option<u32>,
    /// Each call's subject.
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub subject: String,
    /// Why the calls are made, shown on the agenda: `follow_up` when omitted, `order_waiting` for
    /// dormant buyers.
    #[serde(default)]
    pub reason: Option<ContactReason>,
    /// Whether calls fall due on weekdays only (Monday to Friday): true when omitted.
    #[serde(default)]
    pub weekdays_only: Option<bool>,
}

/// The members a call list left out, by the first cause that held for each.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct CallListSkips {
    /// Their current consent to `calls` is not `granted` (withdrawn or never recorded).
    pub no_consent: u64,
    /// Neither they nor a live contact person of theirs has a phone.
    pub no_phone: u64,
    /// A call to them is planned already, by anyone.
    pub already_planned: u64,
    /// With `"owner"`: they have no owner, or their owner is deactivated.
    pub no_assignee: u64,
}

/// One person's share of a call list.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssigneeCalls {
    pub user_id: UserId,
    pub calls: usize,
    pub first_due: NaiveDate,
    pub last_due: NaiveDate,
}

/// What a call list planned.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "created": 2, "skipped": {"no_consent": 14, "no_phone": 3, "already_planned": 1, "no_assignee": 0},
    "assignees": [{"user_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01", "calls": 2,
                   "first_due": "2026-12-08", "last_due": "2026-12-08"}]
}))]
pub struct CallListResult {
    /// Planned calls created, one per member called.
    pub created: usize,
    pub skipped: CallListSkips,
    /// Who got calls, with how many and over which days.
    pub assignees: Vec<AssigneeCalls>,
}

/// Plan a call to each member of a segment.
///
/// Creates a planned outbound call for each member the caller sees who has granted consent to `calls`, has a phone
/// (or a contact person with one) and has no call planned yet; the rest are counted by cause. The calls go to each
/// client's owner, or in turn to the users named (the most valuable clients, by won revenue, first), and fall due from
/// `due_from`, at most `per_day` planned calls a person a day, counting those they had already. Each call is on its
/// assignee's agenda with the reason, and is a change like any activity created. Sales reps plan calls for
/// themselves only; a list of more than 10,000 calls is refused (narrow the segment). Running the same list again
/// plans nothing twice: the members called are then `already_planned`.
#[utoipa::path(
    tag = "segments",
    operation_id = "create_call_list",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The segment's id")),
    request_body = CallListRequest,
    responses(
        (status = 201, description = "Calls planned", body = CallListResult),
        (status = 200, description = "No member to call: nothing planned, the skips say why", body = CallListResult),
    )
)]
#[post("/segments/{id}/call-list")]
pub async fn create_call_list(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<SegmentId>,
    body: crate::api::extract::ValidatedJson<CallListRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let request = body.0;
    let subject = non_blank("subject", &request.subject)?;
    if let Assignees::Users(users) = &request.assignees {
        check_listed(users)?;
        let only_self = users.iter().all(|user| *user == principal.user_id);
        if !principal.role.can_reassign() && !only_self {
            return Err(ApiError::Forbidden("a sales rep plans calls for themselves only".into()));
        }
    } else if !principal.role.can_reassign() {
        return Err(ApiError::Forbidden("a sales rep plans calls for themselves only: name yourself".into()));
    }
    let result = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| plan(conn, &principal, scope, id, request, subject))
    })
    .await?;
    let status = if result.created > 0 { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).json(result))
}

/// A list of users is 1 to 100 of them, each once.
fn check_listed(users: &[UserId]) -> Result<(), ApiError> {
    if users.is_empty() || users.len() > 100 {
        return Err(ApiError::invalid_field("assignees", FieldCode::Length, "name 1 to 100 users"));
    }
    if users.iter().collect::<HashSet<_>>().len() != users.len() {
        return Err(ApiError::invalid_field("assignees", FieldCode::Duplicate, "a user is listed twice"));
    }
    Ok(())
}

fn plan(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    id: SegmentId,
    request: CallListRequest,
    subject: String,
) -> Result<CallListResult, ApiError> {
    let workspace = Workspace::find(conn, principal.workspace_id)?;
    let timezone: Tz = workspace.timezone.parse().unwrap_or(chrono_tz::UTC);
    let today = local_date(Utc::now(), timezone);
    let first_day = request.due_from.unwrap_or(today);
    if first_day < today {
        return Err(ApiError::invalid_field(
            "due_from",
            FieldCode::Range,
            "calls can't fall due in the past",
        ));
    }
    let active = active_users(conn, workspace.id)?;
    if let Assignees::Users(users) = &request.assignees
        && let Some(at) = users.iter().position(|user| !active.contains(user))
    {
        return Err(ApiError::invalid_field(
            &format!("assignees[{at}]"),
            FieldCode::NotFound,
            "no such active user in this workspace",
        ));
    }

    let segment = Segment::find(conn, workspace.id, id)?;
    let members = scope.narrow(segment_condition(conn, &segment)?);
    let mut skipped = count_skips(conn, workspace.id, &members)?;
    let callable = callable_members(conn, workspace.id, &members)?;
    if callable.len() > MAX_CALLS {
        return Err(ApiError::invalid_field(
            "id",
            FieldCode::TooMany,
            format!("more than {MAX_CALLS} members to call: narrow the segment"),
        ));
    }

    // Who calls whom: owners, or the users named in turn, most valuable clients first.
    let mut calls_of: BTreeMap<UserId, Vec<ClientId>> = BTreeMap::new();
    for (at, (client, owner)) in callable.into_iter().enumerate() {
        let assignee = match &request.assignees {
            Assignees::Owners => owner.filter(|owner| active.contains(owner)),
            Assignees::Users(users) => Some(users[at % users.len()]),
        };
        match assignee {
            Some(assignee) => calls_of.entry(assignee).or_default().push(client),
            None => skipped.no_assignee += 1,
        }
    }

    let per_day = request.per_day.unwrap_or(DEFAULT_PER_DAY).min(MAX_PER_DAY);
    let weekdays_only = request.weekdays_only.unwrap_or(true);
    let assignees: Vec<UserId> = calls_of.keys().copied().collect();
    let busy = planned_calls_by_day(conn, workspace.id, &assignees, first_day, timezone)?;
    let now = Utc::now();
    let mut activities = Vec::new();
    let mut shares = Vec::new();
    for (assignee, clients) in &calls_of {
        let days = call_list::due_days(
            clients.len(),
            first_day,
            per_day,
            weekdays_only,
            busy.get(assignee).unwrap_or(&BTreeMap::new()),
        )
        .ok_or_else(|| {
            ApiError::invalid_field(
                "per_day",
                FieldCode::Range,
                format!("{assignee}'s calls would run past a year: raise per_day or name more users"),
            )
        })?;
        if let (Some(first_due), Some(last_due)) = (days.first(), days.last()) {
            shares.push(AssigneeCalls {
                user_id: *assignee,
                calls: clients.len(),
                first_due: *first_due,
                last_due: *last_due,
            });
        }
        for (client, day) in clients.iter().zip(days) {
            let due_at = end_of_day(day, timezone);
            activities.push(planned_call(
                principal,
                *assignee,
                *client,
                due_at,
                &subject,
                request.reason,
                now,
            ));
        }
    }
    Activity::insert_all(conn, workspace.id, &activities)?;
    let events: Vec<NewChangeEvent> = activities
        .iter()
        .map(|activity| NewChangeEvent {
            workspace_id: workspace.id,
            id: uuid::Uuid::now_v7(),
            entity: "activity",
            entity_id: activity.id.0,
            action: "created",
            version: Some(activity.version),
            actor_id: Some(principal.user_id),
            request_id: principal.request_id.as_deref(),
            changes: ChangeSet::default().diff(None, &snapshot(activity), BOOKKEEPING).into_json(),
        })
        .collect();
    NewChangeEvent::copy_all(conn, &events)?;
    // The clients' stats count done activities only: a planned call changes none of them.
    Ok(CallListResult { created: activities.len(), skipped, assignees: shares })
}

/// The last minute of `day` where the workspace is: a call due that day is not overdue until the
/// day is over.
fn end_of_day(day: NaiveDate, timezone: Tz) -> DateTime<Utc> {
    let end = day_window(day, 1, timezone).map(|(_, end)| end);
    // A day whose midnight the clocks skip has no window: its next midnight in UTC terms will do.
    end.unwrap_or_else(|| day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() + TimeDelta::days(1))
        - TimeDelta::minutes(1)
}

fn planned_call(
    principal: &Principal,
    assignee: UserId,
    client: ClientId,
    due_at: DateTime<Utc>,
    subject: &str,
    reason: Option<ContactReason>,
    now: DateTime<Utc>,
) -> Activity {
    Activity {
        workspace_id: principal.workspace_id,
        id: ActivityId::generate(),
        kind: ActivityKind::Call.as_str().to_string(),
        direction: Some(Direction::Outbound.as_str().to_string()),
        channel: None,
        reason: Some(reason.unwrap_or(ContactReason::FollowUp).as_str().to_string()),
        subject: subject.to_string(),
        body: None,
        outcome: None,
        due_at: Some(due_at),
        reminder_at: None,
        reminder_fired_at: None,
        reminder_acked_at: None,
        duration_seconds: None,
        status: "planned".to_string(),
        completed_at: None,
        assignee_id: assignee,
        client_id: Some(client),
        contact_id: None,
        deal_id: None,
        external_ref: None,
        recording_url: None,
        from_address: None,
        to_address: None,
        version: 1,
        created_at: now,
        updated_at: now,
        created_by: Some(principal.user_id),
        updated_by: Some(principal.user_id),
        deleted_at: None,
        deleted_by: None,
        custom: serde_json::json!({}),
        external_refs: Json(Vec::new()),
    }
}

/// The client's current consent to calls is granted.
const CONSENTED: &str = "COALESCE((clients.consents -> 'calls' ->> 'state') = 'granted', false)";
/// The client, or a live contact person of theirs, has a phone.
const HAS_PHONE: &str = "(cardinality(clients.phone_keys) > 0 OR EXISTS (SELECT 1 FROM contacts \
     WHERE contacts.workspace_id = clients.workspace_id AND contacts.client_id = clients.id \
     AND contacts.deleted_at IS NULL AND cardinality(contacts.phone_keys) > 0))";
/// A live call to the client is planned.
const CALL_PLANNED: &str = "EXISTS (SELECT 1 FROM activities WHERE activities.workspace_id = clients.workspace_id \
     AND activities.client_id = clients.id AND activities.kind = 'call' AND activities.status = 'planned' \
     AND activities.deleted_at IS NULL)";

/// How many members each of the causes checked in the database leaves out.
fn count_skips(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    members: &SqlFragment,
) -> QueryResult<CallListSkips> {
    let counted = |condition: String| sql::<BigInt>(&format!("count(*) FILTER (WHERE {condition})"));
    let (no_consent, no_phone, already_planned): (i64, i64, i64) = clients::table
        .filter(clients::workspace_id.eq(workspace))
        .filter(clients::deleted_at.is_null())
        .filter(members.clone())
        .select((
            counted(format!("NOT {CONSENTED}")),
            counted(format!("{CONSENTED} AND NOT {HAS_PHONE}")),
            counted(format!("{CONSENTED} AND {HAS_PHONE} AND {CALL_PLANNED}")),
        ))
        .get_result(conn)?;
    let count = |value: i64| u64::try_from(value).unwrap_or(0);
    Ok(CallListSkips {
        no_consent: count(no_consent),
        no_phone: count(no_phone),
        already_planned: count(already_planned),
        no_assignee: 0,
    })
}

/// The members to call, with their owners, most valuable first: up to one more than a list takes.
fn callable_members(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    members: &SqlFragment,
) -> QueryResult<Vec<(ClientId, Option<UserId>)>> {
    clients::table
        .filter(clients::workspace_id.eq(workspace))
        .filter(clients::deleted_at.is_null())
        .filter(members.clone())
        .filter(sql::<Bool>(&format!("{CONSENTED} AND {HAS_PHONE} AND NOT {CALL_PLANNED}")))
        .order((clients::stats_won_amount.desc(), clients::id.asc()))
        .select((clients::id, clients::owner_id))
        .limit(MAX_CALLS as i64 + 1)
        .load(conn)
}

fn active_users(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<HashSet<UserId>> {
    let active: Vec<UserId> = users::table
        .filter(users::workspace_id.eq(workspace))
        .filter(users::active.eq(true))
        .select(users::id)
        .load(conn)?;
    Ok(active.into_iter().collect())
}

#[derive(QueryableByName)]
struct PlannedOnDay {
    #[diesel(sql_type = SqlUuid)]
    assignee_id: uuid::Uuid,
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = Integer)]
    calls: i32,
}

/// The calls each of `assignees` has planned on each day from `first_day`, days in `timezone`.
fn planned_calls_by_day(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    assignees: &[UserId],
    first_day: NaiveDate,
    timezone: Tz,
) -> QueryResult<HashMap<UserId, BTreeMap<NaiveDate, u32>>> {
    let Some(from) = day_window(first_day, 1, timezone).map(|(start, _)| start) else {
        return Ok(HashMap::new());
    };
    let ids: Vec<uuid::Uuid> = assignees.iter().map(|user| user.0).collect();
    let rows: Vec<PlannedOnDay> = diesel::sql_query(
        "SELECT assignee_id, (due_at AT TIME ZONE $3)::date AS day, count(*)::int4 AS calls \
         FROM activities WHERE workspace_id = $1 AND assignee_id = ANY($2) AND kind = 'call' \
         AND status = 'planned' AND deleted_at IS NULL AND due_at >= $4 GROUP BY 1, 2",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Text, _>(timezone.name())
    .bind::<Timestamptz, _>(from)
    .load(conn)?;
    let mut busy: HashMap<UserId, BTreeMap<NaiveDate, u32>> = HashMap::new();
    for row in rows {
        busy.entry(UserId(row.assignee_id))
            .or_default()
            .insert(row.day, u32::try_from(row.calls).unwrap_or(0));
    }
    Ok(busy)
}
