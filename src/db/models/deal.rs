//! Deals, their line items and their stage history.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Nullable, Text, Timestamptz};
use rust_decimal::Decimal;

use super::client::like_pattern;
use super::report_cells::{self, Cells};
use crate::db::fragment::{Bind, SqlFragment};
use crate::db::json::Json;
use crate::db::page_limit::PageLimitDsl;
use crate::db::schema::{deal_items, deal_stage_changes, deals};
use crate::db::sql_file::{SqlFile, SqlText};
use crate::db::visibility::ClientScope;
use crate::domain::external_ref::ExternalRef;
use crate::ids::{ClientId, ContactId, DealId, PipelineId, ProductId, StageId, TeamId, UserId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = deals, primary_key(workspace_id, id), treat_none_as_null = true, check_for_backend(Pg))]
pub struct Deal {
    pub workspace_id: WorkspaceId,
    pub id: DealId,
    pub title: String,
    pub client_id: ClientId,
    pub contact_id: Option<ContactId>,
    pub pipeline_id: PipelineId,
    pub stage_id: StageId,
    pub status: String,
    pub amount: Decimal,
    pub currency: String,
    pub exchange_rate: Option<Decimal>,
    pub amount_base: Option<Decimal>,
    pub probability: i16,
    pub probability_override: Option<i16>,
    pub expected_close_date: Option<NaiveDate>,
    pub closed_at: Option<DateTime<Utc>>,
    pub lost_reason: Option<String>,
    pub agreement: Option<String>,
    pub next_step: Option<String>,
    pub source: Option<String>,
    pub owner_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub tags: Vec<String>,
    pub search_text: String,
    pub stage_entered_at: DateTime<Utc>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub deleted_by: Option<UserId>,
    pub custom: serde_json::Value,
    pub external_refs: Json<Vec<ExternalRef>>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = deal_items, check_for_backend(Pg))]
pub struct DealItem {
    pub workspace_id: WorkspaceId,
    pub id: uuid::Uuid,
    pub deal_id: DealId,
    pub position: i32,
    pub product_id: Option<ProductId>,
    pub name: String,
    pub product_group: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub discount_percent: Decimal,
    pub tax_percent: Option<Decimal>,
    pub total: Decimal,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = deal_stage_changes, check_for_backend(Pg))]
pub struct StageChange {
    pub workspace_id: WorkspaceId,
    pub id: uuid::Uuid,
    pub deal_id: DealId,
    pub from_stage_id: Option<StageId>,
    pub to_stage_id: StageId,
    pub changed_at: DateTime<Utc>,
    pub changed_by: Option<UserId>,
}

/// How a deal list is ordered; the id breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealOrder {
    UpdatedAt,
    CreatedAt,
    Amount,
    ExpectedCloseDate,
}

impl DealOrder {
    /// The SQL the order sorts on, the same in ORDER BY and in the cursor's comparison.
    pub fn expression(self) -> &'static str {
        match self {
            DealOrder::UpdatedAt => "updated_at",
            DealOrder::CreatedAt => "created_at",
            DealOrder::Amount => "amount",
            DealOrder::ExpectedCloseDate => "COALESCE(expected_close_date, 'infinity'::date)",
        }
    }
}

/// The sort value of the last row of a page, as its cursor carries it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum DealSortKey {
    #[serde(rename = "t")]
    Time(DateTime<Utc>),
    #[serde(rename = "a")]
    Amount(Decimal),
    /// `None` stands for a deal without an expected close date (sorted last).
    #[serde(rename = "d")]
    Date(Option<NaiveDate>),
}

#[derive(Debug, Default, Clone)]
pub struct DealFilter {
    pub pipeline_id: Option<PipelineId>,
    pub stage_id: Option<StageId>,
    pub status: Option<&'static str>,
    pub owner_id: Option<UserId>,
    /// Only the deals of these owners (the board of a caller who doesn't see every client).
    pub owner_ids: Option<Vec<UserId>>,
    pub team_id: Option<TeamId>,
    pub client_id: Option<ClientId>,
    pub expected_close_from: Option<NaiveDate>,
    pub expected_close_to: Option<NaiveDate>,
    pub closed_from: Option<DateTime<Utc>>,
    pub closed_to: Option<DateTime<Utc>>,
    pub amount_min: Option<Decimal>,
    pub amount_max: Option<Decimal>,
    pub tag: Option<String>,
    pub updated_since: Option<DateTime<Utc>>,
    /// Lower-cased search over the title and the client's names.
    pub q: Option<String>,
    /// A compiled filter-language condition (`POST /…/search`, dynamic segments).
    pub condition: Option<crate::db::fragment::SqlFragment>,
    /// The one deal a lookup by another system's id found.
    pub id: Option<DealId>,
}

/// Which way deals count in the running totals: the rows as they were before a write come out, the
/// rows it leaves go in.
#[derive(Debug, Clone, Copy)]
pub enum Totals {
    Remove = -1,
    Add = 1,
}

/// Moves the running totals kept of deals by the live deals among `ids`, as they are now: the
/// board's (`deal_stage_totals`) and the forecast's (`open_deal_totals`). Every write to deals calls
/// it in its transaction: `Remove` before, `Add` after; with `Add` it also marks the deals' creation
/// days stale for the activity cells, which count the deals created each day, and for the funnel
/// cells, which follow each deal from that day.
pub fn apply_running_totals(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    ids: Vec<uuid::Uuid>,
    totals: Totals,
) -> QueryResult<()> {
    static BOARD: SqlText = SqlText::new(include_str!("../sql/apply_deal_stage_totals.sql"));
    static FORECAST: SqlText = SqlText::new(include_str!("../sql/apply_open_deal_totals.sql"));
    for statement in [&BOARD, &FORECAST] {
        SqlFile::new(statement)
            .bind(Bind::Uuid(workspace.0))
            .bind(Bind::UuidList(ids.clone()))
            .bind(Bind::BigInt(totals as i64))
            .execute(conn)?;
    }
    match totals {
        Totals::Remove => Ok(()),
        Totals::Add => {
            report_cells::mark_deal_days_stale(conn, Cells::Activity, workspace, &ids)?;
            report_cells::mark_deal_days_stale(conn, Cells::Funnel, workspace, &ids)
        }
    }
}

/// Brings up to date what is derived from the deals of `clients`: each client's stats and its
/// sales lines. Every write to deals calls it in its transaction, with the clients the deals
/// belonged to before and after.
pub fn recompute_derived<const N: usize>(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    clients: [Option<ClientId>; N],
) -> QueryResult<()> {
    // The stats first: updating a client's row locks it until the transaction ends, so the sales
    // lines of one client are rewritten by one transaction at a time.
    super::client_stats::ClientStats::recompute(conn, workspace, clients)?;
    super::sales_line::recompute(conn, workspace, clients)?;
    // Purchases move a client's lifecycle stage, unless a user set it.
    super::client_lifecycle::advance(conn, workspace, clients).map(drop)
}

/// The deals (live or deleted) in a stage, locked, for a write to all of them.
pub fn lock_stage_deals(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    stage: StageId,
) -> QueryResult<Vec<uuid::Uuid>> {
    deals::table
        .filter(deals::workspace_id.eq(workspace))
        .filter(deals::stage_id.eq(stage))
        .select(deals::id)
        .for_update()
        .load::<DealId>(conn)
        .map(|ids| ids.into_iter().map(|id| id.0).collect())
}

/// Runs `write` over the deals `ids` with the running totals following it: the rows come
/// out of the totals as they are before, and go back in as `write` leaves them.
pub fn following_running_totals<T>(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    ids: Vec<uuid::Uuid>,
    write: impl FnOnce(&mut PgConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    apply_running_totals(conn, workspace, ids.clone(), Totals::Remove)?;
    let written = write(conn)?;
    apply_running_totals(conn, workspace, ids, Totals::Add)?;
    Ok(written)
}

impl Deal {
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<Deal> {
        let deal = diesel::insert_into(deals::table)
            .values(self)
            .returning(Deal::as_returning())
            .get_result(conn)?;
        apply_running_totals(conn, self.workspace_id, vec![self.id.0], Totals::Add)?;
        Ok(deal)
    }

    /// Writes every column back (the caller merged the change into the row it locked).
    pub fn save(&self, conn: &mut PgConnection) -> QueryResult<Deal> {
        following_running_totals(conn, self.workspace_id, vec![self.id.0], |conn| {
            diesel::update(deals::table.find((self.workspace_id, self.id)))
                .set(self)
                .returning(Deal::as_returning())
                .get_result(conn)
        })
    }

    /// Whether the scope sees a live deal `id`.
    pub fn exists(conn: &mut PgConnection, scope: &ClientScope, id: DealId) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(live_in(scope).filter(deals::id.eq(id)).select(deals::id)))
            .get_result(conn)
    }

    /// A live deal the scope sees.
    pub fn find(conn: &mut PgConnection, scope: &ClientScope, id: DealId) -> QueryResult<Deal> {
        live_in(scope).filter(deals::id.eq(id)).select(Deal::as_select()).first(conn)
    }

    /// The line items of these deals, in order.
    pub fn items_of(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        ids: &[DealId],
    ) -> QueryResult<Vec<DealItem>> {
        deal_items::table
            .filter(deal_items::workspace_id.eq(workspace))
            .filter(deal_items::deal_id.eq_any(ids))
            .order((deal_items::deal_id, deal_items::position))
            .select(DealItem::as_select())
            .load(conn)
    }

    /// Replaces the deal's line items.
    pub fn replace_items(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: DealId,
        items: &[DealItem],
    ) -> QueryResult<()> {
        diesel::delete(
            deal_items::table
                .filter(deal_items::workspace_id.eq(workspace))
                .filter(deal_items::deal_id.eq(id)),
        )
        .execute(conn)?;
        diesel::insert_into(deal_items::table).values(items).execute(conn).map(drop)
    }

    pub fn record_stage_change(conn: &mut PgConnection, change: &StageChange) -> QueryResult<()> {
        diesel::insert_into(deal_stage_changes::table).values(change).execute(conn).map(drop)
    }

    /// The deal's moves, oldest first.
    pub fn stage_changes(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: DealId,
    ) -> QueryResult<Vec<StageChange>> {
        deal_stage_changes::table
            .filter(deal_stage_changes::workspace_id.eq(workspace))
            .filter(deal_stage_changes::deal_id.eq(id))
            .order((deal_stage_changes::changed_at, deal_stage_changes::id))
            .select(StageChange::as_select())
            .load(conn)
    }

    pub fn set_deleted(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: DealId,
        deleted: Option<(DateTime<Utc>, UserId)>,
        by: UserId,
    ) -> QueryResult<Deal> {
        following_running_totals(conn, workspace, vec![id.0], |conn| {
            diesel::update(deals::table.find((workspace, id)))
                .set((
                    deals::deleted_at.eq(deleted.map(|(at, _)| at)),
                    deals::deleted_by.eq(deleted.map(|(_, by)| by)),
                    deals::version.eq(deals::version + 1),
                    deals::updated_at.eq(diesel::dsl::now),
                    deals::updated_by.eq(by),
                ))
                .returning(Deal::as_returning())
                .get_result(conn)
        })
    }

    /// One page of live deals: `limit` rows after `after` in `order`.
    pub fn list(
        conn: &mut PgConnection,
        scope: &ClientScope,
        filter: &DealFilter,
        order: DealOrder,
        descending: bool,
        after: Option<(DealSortKey, DealId)>,
        limit: i64,
    ) -> QueryResult<Vec<Deal>> {
        Self::ordered(scope, filter, order, descending, after)
            .select(Deal::as_select())
            .page_limit(limit)
            .load(conn)
    }

    /// The board's columns in one statement: for each of `columns` (a stage, and for a won or
    /// lost one the time its deals must have closed since), its first `limit` live deals by latest
    /// update that pass `filter`; column after column, in the order given. One statement rather
    /// than one per stage saves the board a round trip to PostgreSQL per column.
    pub fn board_columns(
        conn: &mut PgConnection,
        scope: &ClientScope,
        filter: &DealFilter,
        columns: &[(StageId, Option<DateTime<Utc>>)],
        limit: i64,
    ) -> QueryResult<Vec<Deal>> {
        if columns.is_empty() {
            // `VALUES` can't be empty.
            return Ok(Vec::new());
        }
        let column_page = Self::ordered(scope, filter, DealOrder::UpdatedAt, true, None)
            .filter(SqlFragment::fixed(
                "(\"deals\".\"stage_id\" = board_column.stage_id AND (board_column.closed_from IS NULL \
                 OR \"deals\".\"closed_at\" >= board_column.closed_from))",
            ))
            .select(Deal::as_select())
            .page_limit(limit);
        PerColumn { columns: columns.to_vec(), column_page }.load(conn)
    }

    /// Live deals passing `filter`, after `after` in `order`. One `if` per filter of the list, in
    /// one place: longer than a function should be, rather than the list's filters scattered.
    fn ordered<'a>(
        scope: &ClientScope,
        filter: &DealFilter,
        order: DealOrder,
        descending: bool,
        after: Option<(DealSortKey, DealId)>,
    ) -> deals::BoxedQuery<'a, Pg> {
        let mut query = live_in(scope);
        if let Some(condition) = &filter.condition {
            query = query.filter(condition.clone());
        }
        if let Some(id) = filter.id {
            query = query.filter(deals::id.eq(id));
        }
        if let Some(pipeline) = filter.pipeline_id {
            query = query.filter(deals::pipeline_id.eq(pipeline));
        }
        if let Some(stage) = filter.stage_id {
            query = query.filter(deals::stage_id.eq(stage));
        }
        if let Some(status) = filter.status {
            query = query.filter(deals::status.eq(status));
        }
        if let Some(owner) = filter.owner_id {
            query = query.filter(deals::owner_id.eq(owner));
        }
        if let Some(owners) = &filter.owner_ids {
            query = query.filter(deals::owner_id.eq_any(owners.clone()));
        }
        if let Some(team) = filter.team_id {
            query = query.filter(deals::team_id.eq(team));
        }
        if let Some(client) = filter.client_id {
            query = query.filter(deals::client_id.eq(client));
        }
        if let Some(from) = filter.expected_close_from {
            query = query.filter(deals::expected_close_date.ge(from));
        }
        if let Some(to) = filter.expected_close_to {
            query = query.filter(deals::expected_close_date.le(to));
        }
        if let Some(from) = filter.closed_from {
            query = query.filter(deals::closed_at.ge(from));
        }
        if let Some(to) = filter.closed_to {
            query = query.filter(deals::closed_at.le(to));
        }
        if let Some(min) = filter.amount_min {
            query = query.filter(deals::amount.ge(min));
        }
        if let Some(max) = filter.amount_max {
            query = query.filter(deals::amount.le(max));
        }
        if let Some(tag) = &filter.tag {
            query = query.filter(SqlFragment::tagged(tag));
        }
        if let Some(since) = filter.updated_since {
            query = query.filter(deals::updated_at.ge(since));
        }
        if let Some(q) = &filter.q {
            // The title, or the client's names (through the clients' own trigram index).
            query = query.filter(
                // Not cached: see `client::fuzzy_match`.
                SqlFragment::dynamic()
                    .sql("(search_text ILIKE ")
                    .bind(like_pattern(q))
                    .sql(" OR ")
                    .bind(q.clone())
                    .sql(" <% search_text OR client_id IN (SELECT c.id FROM clients c WHERE c.workspace_id = deals.workspace_id AND c.deleted_at IS NULL AND (c.search_text ILIKE ")
                    .bind(like_pattern(q))
                    .sql(" OR ")
                    .bind(q.clone())
                    .sql(" <% c.search_text)))"),
            );
        }
        let expression = order.expression();
        if let Some((key, id)) = after {
            query = query.filter(match key {
                DealSortKey::Time(time) => SqlFragment::keyset_after(expression, descending, time, id.0),
                DealSortKey::Amount(amount) => {
                    SqlFragment::keyset_after(expression, descending, amount, id.0)
                }
                // The expected close date sorts missing dates last, as the ORDER BY does.
                DealSortKey::Date(date) => {
                    let comparison = if descending { "<" } else { ">" };
                    SqlFragment::fixed(&format!("({expression}, id) {comparison} (COALESCE("))
                        .bind(date)
                        .sql(", 'infinity'::date), ")
                        .bind(id.0)
                        .sql(")")
                }
            });
        }
        let direction = if descending { "DESC" } else { "ASC" };
        query.order(SqlFragment::fixed(&format!("{expression} {direction}, id {direction}")))
    }

    /// One page of the deleted deals the scope sees (tombstones), oldest deletion first.
    pub fn list_deleted(
        conn: &mut PgConnection,
        scope: &ClientScope,
        since: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, DealId)>,
        limit: i64,
    ) -> QueryResult<Vec<Deal>> {
        let mut query = deals::table
            .filter(deals::workspace_id.eq(scope.workspace()))
            .filter(deals::deleted_at.is_not_null())
            .into_boxed();
        if let Some(condition) = seen_condition(scope) {
            query = query.filter(condition);
        }
        if let Some(since) = since {
            query = query.filter(deals::deleted_at.ge(since));
        }
        if let Some((time, id)) = after {
            query = query.filter(SqlFragment::keyset_after("deleted_at", false, time, id.0));
        }
        query
            .order((deals::deleted_at.asc(), deals::id.asc()))
            .select(Deal::as_select())
            .page_limit(limit)
            .load(conn)
    }

    /// Per stage and currency: how many live deals, their total and their probability-weighted
    /// total, for a pipeline's board. Won and lost deals count when closed since `closed_since`.
    /// `owners`: only the deals of these owners; `None` for every deal.
    pub fn board_totals(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        pipeline: PipelineId,
        owners: Option<&[UserId]>,
        closed_since: DateTime<Utc>,
    ) -> QueryResult<Vec<StageTotals>> {
        static BOARD_TOTALS: SqlText = SqlText::new(include_str!("../sql/board_totals.sql"));
        static PARTIAL_DAY_TOTALS: SqlText =
            SqlText::new(include_str!("../sql/board_partial_day_totals.sql"));
        /// The running totals' key of every owner's deals together.
        const ALL_OWNERS: uuid::Uuid = uuid::Uuid::max();
        let owner = Bind::UuidList(match owners {
            Some(owners) => owners.iter().map(|owner| owner.0).collect(),
            None => vec![ALL_OWNERS],
        });
        // The running totals hold whole UTC days: the deals closed before the first midnight from
        // `closed_since` on are read one by one (none for a midnight, as by default).
        let from_midnight = closed_since.time() == NaiveTime::MIN;
        let first_day = closed_since.date_naive();
        let first_whole_day = if from_midnight { first_day } else { first_day + Days::new(1) };
        let mut totals: Vec<StageTotals> = SqlFile::new(&BOARD_TOTALS)
            .bind(Bind::Uuid(workspace.0))
            .bind(Bind::Uuid(pipeline.0))
            .bind(owner.clone())
            .bind(Bind::Date(first_whole_day))
            .load(conn)?;
        if from_midnight {
            return Ok(totals);
        }
        let partial_day: Vec<StageTotals> = SqlFile::new(&PARTIAL_DAY_TOTALS)
            .bind(Bind::Uuid(workspace.0))
            .bind(Bind::Uuid(pipeline.0))
            .bind(owner)
            .bind(Bind::Timestamp(closed_since))
            .bind(Bind::Timestamp(first_whole_day.and_time(NaiveTime::MIN).and_utc()))
            .load(conn)?;
        for extra in partial_day {
            match totals
                .iter_mut()
                .find(|total| total.stage_id == extra.stage_id && total.currency == extra.currency)
            {
                Some(total) => {
                    total.deals += extra.deals;
                    total.amount += extra.amount;
                    total.weighted_amount += extra.weighted_amount;
                }
                None => totals.push(extra),
            }
        }
        totals.sort_by(|a, b| (a.stage_id, &a.currency).cmp(&(b.stage_id, &b.currency)));
        Ok(totals)
    }
}

/// `column_page` once per board column, as a `LATERAL` subquery that reads its column's stage and
/// closing time from `board_column`. The columns are a `VALUES` list rather than an array to
/// unnest: the statement's text then says how many there are, so PostgreSQL's generic plan costs
/// the same as a custom one and is kept (for an array, it assumes ten elements and re-plans every
/// time). Pipelines are created with 3 to 50 stages, so few such texts are cached per connection.
struct PerColumn<Q> {
    columns: Vec<(StageId, Option<DateTime<Utc>>)>,
    column_page: Q,
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for PerColumn<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT page.* FROM (VALUES ");
        for (position, (stage, closed_from)) in self.columns.iter().enumerate() {
            if position > 0 {
                out.push_sql(", ");
            }
            out.push_sql("(");
            out.push_bind_param::<diesel::sql_types::Uuid, _>(stage)?;
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Timestamptz>, _>(closed_from)?;
            out.push_sql(&format!(", {position})"));
        }
        out.push_sql(") AS board_column(stage_id, closed_from, position) CROSS JOIN LATERAL (");
        self.column_page.walk_ast(out.reborrow())?;
        out.push_sql(") AS page ORDER BY board_column.position, page.updated_at DESC, page.id DESC");
        Ok(())
    }
}

impl<Q> QueryId for PerColumn<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for PerColumn<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for PerColumn<Q> {}

#[derive(Debug, Clone, QueryableByName)]
pub struct StageTotals {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub stage_id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    pub currency: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub deals: i64,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub amount: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub weighted_amount: Decimal,
}

/// The condition `scope` puts on a deal; its columns are qualified, as the board joins its stages
/// beside them.
fn seen_condition(scope: &ClientScope) -> Option<SqlFragment> {
    scope.record_condition("\"deals\".\"owner_id\"", "\"deals\".\"client_id\"")
}

/// The live deals `scope` sees: where every query of deals by the API starts.
fn live_in<'a>(scope: &ClientScope) -> deals::BoxedQuery<'a, Pg> {
    let mut query = deals::table
        .filter(deals::workspace_id.eq(scope.workspace()))
        .filter(deals::deleted_at.is_null())
        .into_boxed();
    if let Some(condition) = seen_condition(scope) {
        query = query.filter(condition);
    }
    query
}
