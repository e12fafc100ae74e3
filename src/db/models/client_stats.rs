//! Per-client behaviour stats, stored on the client row so that segments over a million clients
//! filter on indexed columns. Deal and activity writes recompute their client's stats in their own
//! transaction; a periodic refresh re-ages the rolling counts and scores RFM.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use rust_decimal::Decimal;

use crate::db::fragment::Bind;
use crate::db::models::Client;
use crate::db::models::client::live_in;
use crate::db::schema::{clients, workspaces};
use crate::db::sql_file::{SqlFile, SqlText};
use crate::db::visibility::ClientScope;
use crate::ids::{ClientId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = clients, check_for_backend(diesel::pg::Pg))]
pub struct ClientStats {
    #[diesel(column_name = stats_won_count)]
    pub won_count: i32,
    #[diesel(column_name = stats_won_amount)]
    pub won_amount: Decimal,
    #[diesel(column_name = stats_first_purchase_at)]
    pub first_purchase_at: Option<DateTime<Utc>>,
    #[diesel(column_name = stats_last_purchase_at)]
    pub last_purchase_at: Option<DateTime<Utc>>,
    #[diesel(column_name = stats_open_deals_count)]
    pub open_deals_count: i32,
    #[diesel(column_name = stats_last_activity_at)]
    pub last_activity_at: Option<DateTime<Utc>>,
    #[diesel(column_name = stats_activities_30d)]
    pub activities_30d: i32,
    #[diesel(column_name = stats_activities_90d)]
    pub activities_90d: i32,
    #[diesel(column_name = stats_rfm_recency)]
    pub rfm_recency: Option<i16>,
    #[diesel(column_name = stats_rfm_frequency)]
    pub rfm_frequency: Option<i16>,
    #[diesel(column_name = stats_rfm_monetary)]
    pub rfm_monetary: Option<i16>,
    #[diesel(column_name = stats_rfm_class)]
    pub rfm_class: Option<String>,
}

/// What a workspace refresh did.
#[derive(Debug, Clone, Copy, QueryableByName)]
pub struct RefreshOutcome {
    /// Clients with at least one purchase, who got RFM scores.
    #[diesel(sql_type = BigInt)]
    pub scored: i64,
    /// Client rows whose stats changed.
    #[diesel(sql_type = BigInt)]
    pub updated: i64,
}

/// How often the background job refreshes each workspace.
pub const REFRESH_INTERVAL_SECS: i64 = 3600;

impl ClientStats {
    /// A live client with its stats, in one query (the client card shows both).
    pub fn find_with_client(
        conn: &mut PgConnection,
        scope: &ClientScope,
        client: ClientId,
    ) -> QueryResult<(Client, ClientStats)> {
        live_in(scope)
            .filter(clients::id.eq(client))
            .select((Client::as_select(), ClientStats::as_select()))
            .first(conn)
    }

    /// Recomputes the stats of each of `clients` (duplicates and `None` skipped) from their deals and
    /// activities. Call it in the transaction that wrote them.
    pub fn recompute(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        clients: impl IntoIterator<Item = Option<ClientId>>,
    ) -> QueryResult<()> {
        static REFRESH_CLIENT_STATS: SqlText = SqlText::new(include_str!("../sql/refresh_client_stats.sql"));
        let mut seen: Vec<ClientId> = Vec::new();
        for client in clients.into_iter().flatten() {
            if seen.contains(&client) {
                continue;
            }
            seen.push(client);
            SqlFile::new(&REFRESH_CLIENT_STATS)
                .bind(Bind::Uuid(workspace.0))
                .bind(Bind::Uuid(client.0))
                .execute(conn)?;
        }
        Ok(())
    }

    /// Re-ages the rolling counts and recomputes RFM for a whole workspace.
    pub fn refresh_workspace(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<RefreshOutcome> {
        let outcome = diesel::sql_query(include_str!("../sql/refresh_workspace_stats.sql"))
            .bind::<SqlUuid, _>(workspace.0)
            .get_result::<RefreshOutcome>(conn)?;
        diesel::update(workspaces::table.find(workspace))
            .set(workspaces::stats_refreshed_at.eq(Utc::now()))
            .execute(conn)?;
        // Time without purchases churns customers whose stage moves by itself.
        super::client_lifecycle::churn_dormant(conn, workspace)?;
        Ok(outcome)
    }

    /// Refreshes one workspace whose stats are older than the interval, if any, claiming it so that
    /// several API nodes never refresh the same workspace at once. Returns whether one was due.
    ///
    /// The due workspaces are found without a lock, and one is then claimed by its id with `FOR
    /// UPDATE SKIP LOCKED`: a row lock taken across workspaces is a distributed one, which Citus
    /// refuses (docs/scaling.md).
    pub fn refresh_next_due(conn: &mut PgConnection) -> QueryResult<bool> {
        let is_due = || {
            workspaces::stats_refreshed_at.is_null().or(workspaces::stats_refreshed_at
                .lt(Utc::now() - chrono::Duration::seconds(REFRESH_INTERVAL_SECS)))
        };
        let candidates: Vec<WorkspaceId> = workspaces::table
            .filter(is_due())
            .order(workspaces::stats_refreshed_at.asc().nulls_first())
            .select(workspaces::id)
            .limit(CLAIM_CANDIDATES)
            .load(conn)?;
        for candidate in candidates {
            let refreshed = conn.transaction(|conn| {
                let claimed: Option<WorkspaceId> = workspaces::table
                    .filter(workspaces::id.eq(candidate))
                    .filter(is_due())
                    .select(workspaces::id)
                    .for_update()
                    .skip_locked()
                    .first(conn)
                    .optional()?;
                match claimed {
                    Some(workspace) => Self::refresh_workspace(conn, workspace).map(|_| true),
                    None => Ok(false),
                }
            })?;
            if refreshed {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// How many due workspaces one claim tries, oldest first, before it gives up until the next tick:
/// the others are being refreshed by other processes.
const CLAIM_CANDIDATES: i64 = 10;

/// A client's won deals and when it last bought, as its stats have them.
pub fn purchases(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    client: ClientId,
) -> QueryResult<(i32, Option<DateTime<Utc>>)> {
    crate::db::schema::clients::table
        .find((workspace, client))
        .select((
            crate::db::schema::clients::stats_won_count,
            crate::db::schema::clients::stats_last_purchase_at,
        ))
        .first(conn)
}
