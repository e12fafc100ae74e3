//! Running on Citus: after the migrations, the tables they left local are distributed, so that a
//! fresh install on a Citus coordinator is one `crm migrate` (docs/scaling.md). On plain
//! PostgreSQL this does nothing.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

/// The tables every workspace shares, which Citus copies to every node as reference tables; the
/// rest but Diesel's own bookkeeping are the workspaces' and spread over the nodes by workspace.
pub const SHARED_TABLES: &[&str] = &["login_emails"];

/// Diesel's record of applied migrations: the coordinator's alone.
const COORDINATOR_ONLY: &[&str] = &["__diesel_schema_migrations"];

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Link {
    #[diesel(sql_type = Text)]
    from_table: String,
    #[diesel(sql_type = Text)]
    to_table: String,
}

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

/// On a Citus coordinator, distributes each table of the schema that isn't yet: `workspaces` by
/// its id, every other workspace's table by `workspace_id` colocated with it (in the order of
/// their foreign keys, a referenced table first), the shared ones as reference tables. Returns the
/// tables it distributed; none without Citus.
pub fn distribute_new_tables(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    let citus: Present =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS present")
            .get_result(conn)?;
    if !citus.present {
        return Ok(Vec::new());
    }
    let mut pending: Vec<String> = diesel::sql_query(
        "SELECT c.relname::text AS name FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') \
           AND NOT EXISTS (SELECT 1 FROM pg_dist_partition AS d WHERE d.logicalrelid = c.oid) \
         ORDER BY 1",
    )
    .load::<Name>(conn)?
    .into_iter()
    .map(|row| row.name)
    .filter(|name| !COORDINATOR_ONLY.contains(&name.as_str()))
    .collect();
    let links: Vec<Link> = diesel::sql_query(
        "SELECT conrelid::regclass::text AS from_table, confrelid::regclass::text AS to_table \
         FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace",
    )
    .load(conn)?;
    // The audit trail's append-only guard is a trigger that only refuses: safe on every shard.
    conn.batch_execute("SET citus.enable_unsafe_triggers = on")?;
    let mut distributed = Vec::new();
    while !pending.is_empty() {
        // Every other workspace's table is colocated with `workspaces`, which therefore goes first.
        let workspaces_first = pending.iter().position(|table| table == "workspaces");
        let ready = workspaces_first.or_else(|| {
            pending.iter().position(|table| {
                links
                    .iter()
                    .filter(|link| link.from_table == *table && link.to_table != *table)
                    .all(|link| !pending.contains(&link.to_table))
            })
        });
        let Some(index) = ready else {
            return Err(diesel::result::Error::QueryBuilderError(
                format!("the foreign keys of {pending:?} form a cycle: distribute them by hand").into(),
            ));
        };
        let table = pending.remove(index);
        let statement = if SHARED_TABLES.contains(&table.as_str()) {
            "SELECT create_reference_table($1)::text AS name"
        } else if table == "workspaces" {
            "SELECT create_distributed_table($1, 'id')::text AS name"
        } else {
            "SELECT create_distributed_table($1, 'workspace_id', colocate_with => 'workspaces')::text AS name"
        };
        diesel::sql_query(statement).bind::<Text, _>(&table).load::<Name>(conn)?;
        distributed.push(table);
    }
    Ok(distributed)
}
