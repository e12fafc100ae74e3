//! `GET /reports/activity`: what the team did in a range of days (calls, meetings, emails, … by
//! direction and reason), how the activities that fell due went, how many clients were touched, and
//! how soon new deals got their first touch; per assignee or team.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    GroupLabels, PersonGrouping, distinct_keys, group_labels, percent_of, report_range, respond, today_in,
};
use crate::auth::{Principal, run_reading};
use crate::db::models::Workspace;
use crate::db::models::activity_cell;
use crate::db::models::activity_report::{ActivityScope, ActivityTallies, DoneCounts, PaceTally};
use crate::domain::enums::{ActivityKind, ContactReason, Direction};
use crate::domain::money;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityReportQuery {
    /// The first day, in the workspace's time zone; the first of the current month when omitted.
    pub from: Option<NaiveDate>,
    /// The last day, included; today when omitted.
    pub to: Option<NaiveDate>,
    /// Split by the activities' assignee (and the deals' owner), or by their team.
    pub group_by: Option<PersonGrouping>,
}

/// Activities of one kind done.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KindCount {
    pub kind: ActivityKind,
    pub done: i64,
}

/// Activities of one reason done; `reason` null for those without one.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReasonCount {
    pub reason: Option<String>,
    pub done: i64,
}

/// Done activities by direction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct DirectionCounts {
    pub inbound: i64,
    pub outbound: i64,
    /// Without a direction (a note, a task).
    pub unspecified: i64,
}

/// One set of activity figures.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ActivityFigures {
    /// Activities completed in the range.
    pub done: i64,
    /// Every kind, in the API's order.
    pub by_kind: Vec<KindCount>,
    pub by_direction: DirectionCounts,
    /// By activities, most first.
    pub by_reason: Vec<ReasonCount>,
    /// Activities due in the range, not cancelled.
    pub due: i64,
    /// Of those, still planned past their due time.
    pub overdue: i64,
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "12.5")]
    pub overdue_percent: Option<Decimal>,
    /// Of those, done by their due time.
    pub completed_on_time: i64,
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "75.0")]
    pub on_time_percent: Option<Decimal>,
    /// Clients the done activities were with.
    pub clients_touched: i64,
    /// Done activities with a client per client touched, to two decimals.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "1.50")]
    pub touches_per_client: Option<Decimal>,
    /// Live deals created in the range.
    pub deals_created: i64,
    /// Of those, with a done activity.
    pub deals_touched: i64,
    /// The average days from a deal's creation to its first done activity, to one decimal.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "1.5")]
    pub average_days_to_first_activity: Option<Decimal>,
}

/// One assignee's or team's figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivityGroup {
    /// The user's or team's id; null for no team.
    pub key: Option<String>,
    pub label: Option<String>,
    pub figures: ActivityFigures,
}

/// What the team did in a range.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-03-01", "to": "2026-03-31", "group_by": null, "as_of": "2026-04-01T08:00:00Z",
    "total": {"done": 4, "by_kind": [{"kind": "call", "done": 3}, {"kind": "meeting", "done": 1}],
              "by_direction": {"inbound": 1, "outbound": 2, "unspecified": 1},
              "by_reason": [{"reason": "follow_up", "done": 2}, {"reason": null, "done": 2}],
              "due": 4, "overdue": 1, "overdue_percent": "25.0", "completed_on_time": 2, "on_time_percent": "50.0",
              "clients_touched": 2, "touches_per_client": "1.50", "deals_created": 2, "deals_touched": 1,
              "average_days_to_first_activity": "1.5"},
    "groups": []
}))]
pub struct ActivityReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group_by: Option<PersonGrouping>,
    pub as_of: DateTime<Utc>,
    pub total: ActivityFigures,
    /// Each assignee or team with anything to count, by activities done (most first); empty without `group_by`.
    pub groups: Vec<ActivityGroup>,
}

/// Activities done, due and late.
///
/// Over the days `from` to `to` (the workspace's time zone): the activities completed by kind, direction and
/// reason; those that fell due, how many are overdue and how many were done on time; the clients touched and
/// the touches per client; and how many days the deals created in the range waited for their first done
/// activity. Per assignee (deals: owner) or team with `group_by`. Only what the caller sees. CSV with
/// `Accept: text/csv`.
#[utoipa::path(
    tag = "reports",
    operation_id = "activity_report",
    security(("bearer" = [])),
    params(ActivityReportQuery),
    responses(
        (status = 200, description = "The report",
            content((ActivityReport = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A parameter out of range (named in `errors`): `to` before `from`",
            body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/activity")]
pub async fn activity_report(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    query: web::Query<ActivityReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let report = run_reading(principal.caller(), &state, move |conn, scope| {
        let workspace = Workspace::find(conn, scope.workspace())?;
        let range = report_range(&workspace, query.from, query.to, |today| today.with_day(1))?;
        let report = ActivityScope {
            scope,
            range,
            timezone: workspace.timezone.clone(),
            by_team: query.group_by.map(|grouping| grouping == PersonGrouping::Team),
        };
        let tallies = match activity_cell::tallies(conn, &report, today_in(&workspace))? {
            Some(tallies) => Tallies(tallies),
            None => Tallies(ActivityTallies::scanned(conn, &report)?),
        };
        let keys = tallies.keys(query.group_by.is_some());
        let labels = group_labels(conn, workspace.id, query.group_by.map(PersonGrouping::as_sales), &keys)?;
        Ok(tallies.assemble(range.from, range.to, query.group_by, keys, &labels))
    })
    .await?;
    respond(&request, &report, csv)
}

/// The tallies, as the report's figures.
struct Tallies(ActivityTallies);

impl Tallies {
    /// Every group with anything to count, in the order first met.
    fn keys(&self, grouped: bool) -> Vec<Option<String>> {
        if !grouped {
            return Vec::new();
        }
        let done = self.0.done.keys();
        let paced = [&self.0.touches, &self.0.due, &self.0.first_touch]
            .into_iter()
            .flatten()
            .filter(|tally| !tally.all_groups)
            .map(|tally| &tally.group_key);
        distinct_keys(done.chain(paced))
    }

    /// The tallies of all groups, and of each group: read once, however many groups there are.
    fn by_group(&self) -> (GroupTallies, HashMap<&Option<String>, GroupTallies>) {
        let mut total = GroupTallies::default();
        let mut groups: HashMap<&Option<String>, GroupTallies> = HashMap::new();
        for (key, done) in &self.0.done {
            total.done.add(done);
            groups.entry(key).or_default().done.add(done);
        }
        let paced: [(&[PaceTally], PaceSlot); 3] = [
            (&self.0.touches, |tallies| &mut tallies.touches),
            (&self.0.due, |tallies| &mut tallies.due),
            (&self.0.first_touch, |tallies| &mut tallies.first_touch),
        ];
        for (tallies, slot) in paced {
            for tally in tallies {
                let of =
                    if tally.all_groups { &mut total } else { groups.entry(&tally.group_key).or_default() };
                *slot(of) = Some(tally.clone());
            }
        }
        (total, groups)
    }
}

/// Where one kind of paced tally goes in a group's.
type PaceSlot = fn(&mut GroupTallies) -> &mut Option<PaceTally>;

/// The tallies of one group, or of all.
#[derive(Default)]
struct GroupTallies {
    done: DoneCounts,
    touches: Option<PaceTally>,
    due: Option<PaceTally>,
    first_touch: Option<PaceTally>,
}

impl GroupTallies {
    fn figures(&self) -> ActivityFigures {
        let done = &self.done;
        let mut by_reason: Vec<ReasonCount> = ContactReason::ALL
            .iter()
            .zip(done.by_reason)
            .filter(|(_, done)| *done > 0)
            .map(|(reason, done)| ReasonCount { reason: Some(reason.as_str().to_owned()), done })
            .collect();
        let without_reason = done.done - done.by_reason.iter().sum::<i64>();
        if without_reason > 0 {
            by_reason.push(ReasonCount { reason: None, done: without_reason });
        }
        by_reason.sort_by(|a, b| b.done.cmp(&a.done).then_with(|| a.reason.cmp(&b.reason)));
        let direction = |wanted: Direction| {
            Direction::ALL
                .iter()
                .zip(done.by_direction)
                .find(|(of, _)| **of == wanted)
                .map_or(0, |(_, done)| done)
        };
        let (inbound, outbound) = (direction(Direction::Inbound), direction(Direction::Outbound));
        let (touches, due, first) = (&self.touches, &self.due, &self.first_touch);
        let (due_count, overdue, on_time) =
            due.as_ref().map_or((0, 0, 0), |due| (due.value, due.second, due.third));
        let clients = touches.as_ref().map_or(0, |touches| touches.value);
        let with_client = touches.as_ref().map_or(0, |touches| touches.second);
        ActivityFigures {
            done: done.done,
            by_kind: ActivityKind::ALL
                .iter()
                .zip(done.by_kind)
                .map(|(&kind, done)| KindCount { kind, done })
                .collect(),
            by_direction: DirectionCounts { inbound, outbound, unspecified: done.done - inbound - outbound },
            by_reason,
            due: due_count,
            overdue,
            overdue_percent: percent_of(overdue, due_count),
            completed_on_time: on_time,
            on_time_percent: percent_of(on_time, due_count),
            clients_touched: clients,
            touches_per_client: (clients > 0)
                .then(|| money::round(Decimal::from(with_client) / Decimal::from(clients), 2)),
            deals_created: first.as_ref().map_or(0, |first| first.value),
            deals_touched: first.as_ref().map_or(0, |first| first.second),
            average_days_to_first_activity: first
                .as_ref()
                .and_then(|first| first.days)
                .and_then(Decimal::from_f64)
                .map(|days| money::round(days, 1)),
        }
    }
}

impl Tallies {
    fn assemble(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        group_by: Option<PersonGrouping>,
        keys: Vec<Option<String>>,
        labels: &GroupLabels,
    ) -> ActivityReport {
        let (total, by_group) = self.by_group();
        let mut groups: Vec<ActivityGroup> = keys
            .into_iter()
            .map(|key| {
                let figures = by_group
                    .get(&key)
                    .map(GroupTallies::figures)
                    .unwrap_or_else(|| GroupTallies::default().figures());
                ActivityGroup { label: labels.of(&key), figures, key }
            })
            .collect();
        groups.sort_by(|a, b| b.figures.done.cmp(&a.figures.done).then_with(|| a.label.cmp(&b.label)));
        ActivityReport { from, to, group_by, as_of: Utc::now(), total: total.figures(), groups }
    }
}

/// One row for all (`level` `total`), then one per group (`group`); a column per kind of activity.
fn csv(report: &ActivityReport) -> Result<actix_web::web::Bytes, actix_web::Error> {
    let mut header: Vec<String> = ["level", "group_key", "group_label", "done"].map(String::from).to_vec();
    header.extend(ActivityKind::ALL.iter().map(|kind| format!("done_{kind}")));
    header.extend(
        [
            "inbound",
            "outbound",
            "due",
            "overdue",
            "overdue_percent",
            "completed_on_time",
            "on_time_percent",
            "clients_touched",
            "touches_per_client",
            "deals_created",
            "deals_touched",
            "average_days_to_first_activity",
        ]
        .map(String::from),
    );
    let text = |value: Option<Decimal>| value.map(|value| value.to_string()).unwrap_or_default();
    let row = |level: &str, group: Option<&ActivityGroup>, figures: &ActivityFigures| {
        let mut cells = vec![
            level.to_string(),
            group.and_then(|group| group.key.clone()).unwrap_or_default(),
            group.and_then(|group| group.label.clone()).unwrap_or_default(),
            figures.done.to_string(),
        ];
        cells.extend(figures.by_kind.iter().map(|kind| kind.done.to_string()));
        cells.extend([
            figures.by_direction.inbound.to_string(),
            figures.by_direction.outbound.to_string(),
            figures.due.to_string(),
            figures.overdue.to_string(),
            text(figures.overdue_percent),
            figures.completed_on_time.to_string(),
            text(figures.on_time_percent),
            figures.clients_touched.to_string(),
            text(figures.touches_per_client),
            figures.deals_created.to_string(),
            figures.deals_touched.to_string(),
            text(figures.average_days_to_first_activity),
        ]);
        cells
    };
    let mut rows = vec![header, row("total", None, &report.total)];
    rows.extend(report.groups.iter().map(|group| row("group", Some(group), &group.figures)));
    crate::api::segments::export::csv_rows(rows.into_iter())
}
