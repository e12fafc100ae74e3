//! The migrated schema, read from the catalog, against what Citus refuses when every tenant table
//! is distributed by `workspace_id` (and `workspaces` by `id`), colocated: CI can't install Citus,
//! so it checks the rules instead (DESIGN.md, ../shared/CITUS.md, docs/scaling.md).

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::support::TestApp;

/// Diesel's own bookkeeping, which stays on the coordinator; the tables shared by every workspace
/// (`crm::db::citus::SHARED_TABLES`, which `crm migrate` makes reference tables) are not the
/// workspaces' either.
const COORDINATOR_ONLY: &str = "__diesel_schema_migrations";

/// The triggers kept on purpose: the audit trail's guard, which refuses every update, delete and
/// truncate of a change event and reads or writes nothing. Citus creates a trigger on a
/// distributed table with `citus.enable_unsafe_triggers` on, and it then fires on each shard,
/// where refusing is as safe as on one server (docs/scaling.md). Any other trigger is a finding.
const GUARD_TRIGGERS: &[&str] = &["change_events_append_only", "change_events_no_truncate"];

#[derive(QueryableByName)]
struct Finding {
    #[diesel(sql_type = Text)]
    finding: String,
}

/// Everything in the schema `public` that Citus would refuse.
fn citus_findings(conn: &mut PgConnection) -> Vec<String> {
    let quoted = |names: &[&str]| names.iter().map(|name| format!("'{name}'")).collect::<Vec<_>>().join(", ");
    let not_distributed = quoted(&[&[COORDINATOR_ONLY], crm::db::citus::SHARED_TABLES].concat());
    let guards = quoted(GUARD_TRIGGERS);
    // Each tenant table with the column it is distributed by.
    let tenants = format!(
        "tenant AS (
            SELECT c.oid, c.relname, CASE WHEN c.relname = 'workspaces' THEN 'id' ELSE 'workspace_id' END AS column_name
            FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname NOT IN ({not_distributed})
        ), tenant_key AS (
            SELECT t.oid, t.relname, a.attnum FROM tenant AS t
            JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attname = t.column_name AND NOT a.attisdropped
        )"
    );
    let query = format!(
        "WITH {tenants}
        SELECT format('%s has no %s column', t.relname, t.column_name) AS finding FROM tenant AS t
        WHERE NOT EXISTS (SELECT 1 FROM tenant_key AS k WHERE k.oid = t.oid)
        UNION ALL
        SELECT format('unique index %s on %s leaves out %s', i.indexrelid::regclass, k.relname,
                      CASE WHEN k.relname = 'workspaces' THEN 'id' ELSE 'workspace_id' END)
        FROM pg_index AS i JOIN tenant_key AS k ON k.oid = i.indrelid
        WHERE i.indisunique AND NOT (k.attnum = ANY (i.indkey::int2[]))
        UNION ALL
        SELECT format('foreign key %s of %s does not pair the tenant columns', f.conname, k.relname)
        FROM pg_constraint AS f
        JOIN tenant_key AS k ON k.oid = f.conrelid
        JOIN tenant_key AS r ON r.oid = f.confrelid
        WHERE f.contype = 'f'
          AND coalesce(array_position(f.conkey, k.attnum), 0) <> coalesce(array_position(f.confkey, r.attnum), -1)
        UNION ALL
        SELECT format('foreign key %s of %s sets null or a default on delete', f.conname, k.relname)
        FROM pg_constraint AS f
        JOIN tenant_key AS k ON k.oid = f.conrelid
        JOIN tenant_key AS r ON r.oid = f.confrelid
        WHERE f.contype = 'f' AND f.confdeltype IN ('n', 'd')
        UNION ALL
        SELECT format('foreign key %s of %s points from a shared table into a tenant table', f.conname,
                      f.conrelid::regclass)
        FROM pg_constraint AS f JOIN tenant AS r ON r.oid = f.confrelid
        WHERE f.contype = 'f' AND f.conrelid NOT IN (SELECT oid FROM tenant)
        UNION ALL
        SELECT format('trigger %s on %s', g.tgname, t.relname)
        FROM pg_trigger AS g JOIN tenant AS t ON t.oid = g.tgrelid
        WHERE NOT g.tgisinternal AND g.tgname NOT IN ({guards})
        ORDER BY 1"
    );
    diesel::sql_query(query)
        .load::<Finding>(conn)
        .expect("the catalog")
        .into_iter()
        .map(|row| row.finding)
        .collect()
}

#[actix_web::test]
async fn every_table_key_and_link_of_the_schema_distributes_by_workspace() {
    let app = TestApp::spawn().await;
    let findings = app.on_database(citus_findings).await;
    assert!(findings.is_empty(), "Citus would refuse: {findings:#?}");
}

/// The check finds each kind of thing Citus refuses: it would pass an empty schema too.
#[actix_web::test]
async fn the_schema_check_finds_what_citus_refuses() {
    let app = TestApp::spawn().await;
    let bad_schema = "CREATE TABLE notes_without_tenant (id uuid PRIMARY KEY);
         CREATE TABLE tags (workspace_id uuid NOT NULL REFERENCES workspaces (id), id uuid NOT NULL,
                            client_id uuid, PRIMARY KEY (workspace_id, id));
         CREATE UNIQUE INDEX tags_by_id ON tags (id);
         ALTER TABLE tags ADD CONSTRAINT tags_client FOREIGN KEY (client_id, workspace_id)
             REFERENCES clients (workspace_id, id);
         ALTER TABLE tags ADD CONSTRAINT tags_client_nulled FOREIGN KEY (workspace_id, client_id)
             REFERENCES clients (workspace_id, id) ON DELETE SET NULL (client_id);
         CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
         CREATE TRIGGER tags_touch BEFORE UPDATE ON tags FOR EACH ROW EXECUTE FUNCTION touch();";
    let findings = app
        .on_database(move |conn| {
            conn.batch_execute(bad_schema).expect("the bad schema");
            citus_findings(conn)
        })
        .await;
    assert_eq!(
        findings,
        [
            "foreign key tags_client of tags does not pair the tenant columns",
            "foreign key tags_client_nulled of tags sets null or a default on delete",
            "notes_without_tenant has no workspace_id column",
            "trigger tags_touch on tags",
            "unique index tags_by_id on tags leaves out workspace_id",
        ]
    );
}
