//! `crm seed`: fills a workspace with realistic, deterministic data for benchmarks and demos —
//! people and companies with Russian and English names, contacts, a product catalogue, deals over
//! three years with seasonality and line items, and activities of every kind. Rows are generated
//! inside PostgreSQL (`INSERT … SELECT` over `generate_series`, numbers drawn from hashes of the row
//! number and the seed), a batch of clients per transaction; the client stats are computed at the
//! end, as the API keeps them.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Numeric, Text, Uuid as SqlUuid};
use indicatif::{ProgressBar, ProgressStyle};
use rust_decimal::Decimal;

use crate::auth::password;
use crate::db::models::client_stats::ClientStats;
use crate::db::models::deal::{Totals, apply_running_totals};
use crate::db::models::sales_line;
use crate::db::models::{NewUser, Pipeline, Product, Stage, User, Workspace};
use crate::db::schema::deals;
use crate::domain::enums::StageKind;
use crate::domain::role::Role;
use crate::ids::{ClientId, ProductId, UserId, WorkspaceId};

/// What to generate.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedOptions {
    /// The workspace to fill.
    #[arg(long)]
    pub workspace: uuid::Uuid,
    /// How many clients to add.
    #[arg(long)]
    pub clients: u64,
    /// The same seed gives the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: i64,
    /// Deals per client, on average (0 to 2× this many each).
    #[arg(long, default_value_t = 3)]
    pub deals_per_client: u32,
    /// Activities per client, on average (0 to 2× this many each).
    #[arg(long, default_value_t = 8)]
    pub activities_per_client: u32,
    /// Sales users to spread the clients over (created as seed-sales-N@seed.example, password
    /// `seed-password-1`); by default one per 2,000 clients, at least three.
    #[arg(long)]
    pub users: Option<u32>,
    /// Clients per transaction.
    #[arg(long, default_value_t = 10_000)]
    pub batch: u64,
}

/// A salesperson's book of clients when `--users` is not given: a real sales team grows with the
/// client base, so one user's agenda and client list stay the same size at every scale.
const CLIENTS_PER_SALESPERSON: u64 = 2_000;

impl SeedOptions {
    fn sales_users(&self) -> u32 {
        self.users.unwrap_or_else(|| {
            u32::try_from(self.clients.div_ceil(CLIENTS_PER_SALESPERSON)).unwrap_or(u32::MAX).max(3)
        })
    }
}

/// A deal the seeder just wrote.
#[derive(QueryableByName)]
struct SeededDeal {
    #[diesel(sql_type = SqlUuid)]
    id: uuid::Uuid,
}

/// The password of the generated users.
pub const SEED_PASSWORD: &str = "seed-password-1";

const PRODUCT_GROUPS: &[(&str, &[&str])] = &[
    ("Tea", &["Green tea", "Black tea", "Oolong", "Puer", "Herbal tea", "White tea", "Matcha", "Rooibos"]),
    (
        "Coffee",
        &[
            "Espresso beans",
            "Arabica",
            "Robusta",
            "Decaf",
            "Cold brew",
            "Turkish coffee",
            "Instant",
            "Capsules",
        ],
    ),
    ("Sweets", &["Chocolate", "Honey", "Jam", "Marshmallow", "Halva", "Biscuits", "Candies", "Pastila"]),
    ("Tableware", &["Teapot", "Cup", "Mug", "French press", "Tea tray", "Kettle", "Strainer", "Thermos"]),
    (
        "Gifts",
        &[
            "Gift box S",
            "Gift box M",
            "Gift box L",
            "Tasting set",
            "Corporate set",
            "Card",
            "Hamper",
            "Voucher",
        ],
    ),
];

/// Fills the workspace; prints progress to stderr. Long because it is a script: its steps run in
/// order, each timed and reported.
pub fn run(
    conn: &mut PgConnection,
    options: &SeedOptions,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let workspace_id = WorkspaceId(options.workspace);
    let workspace = Workspace::find(conn, workspace_id).optional()?.ok_or("no such workspace")?;
    // Compiling the seeder's big INSERTs costs more than it saves. Its "random" numbers are
    // written out in each statement (`abs(hashint8extended(row, salt)) % m`), not helper functions:
    // a function in `pg_temp` exists only on the node that made it, and Citus runs the statements
    // on the workers.
    conn.batch_execute("SET jit = off")?;
    let owners = seed_users(conn, workspace_id, options)?;
    let products = seed_products(conn, &workspace, options.seed)?;
    let pipeline = Pipeline::find_default(conn, workspace_id)?;
    let stages = Stage::of_pipelines(conn, workspace_id, &[pipeline.id])?;
    let stage_of = |kind: StageKind| {
        stages.iter().filter(move |stage| stage.kind == kind.as_str()).map(|stage| stage.id.0)
    };
    let open_stages: Vec<uuid::Uuid> = stage_of(StageKind::Open).collect();
    let won = stage_of(StageKind::Won).next().ok_or("the default pipeline has no won stage")?;
    let lost = stage_of(StageKind::Lost).next().ok_or("the default pipeline has no lost stage")?;

    // Continue after clients an earlier run of the same seed added.
    let first = 1 + existing_seeded(conn, workspace_id, options.seed)?;
    let last = first + options.clients - 1;
    let progress = ProgressBar::new(options.clients);
    progress.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} clients ({per_sec}, {eta} left) {msg}",
        )?
        .progress_chars("=> "),
    );
    let mut from = first;
    while from <= last {
        let to = (from + options.batch - 1).min(last);
        conn.transaction(|conn| -> QueryResult<()> {
            let range = |query: &'static str| {
                diesel::sql_query(query)
                    .bind::<SqlUuid, _>(workspace_id.0)
                    .bind::<BigInt, _>(options.seed)
                    .bind::<BigInt, _>(from as i64)
                    .bind::<BigInt, _>(to as i64)
            };
            range(include_str!("db/sql/seed/clients.sql"))
                .bind::<Array<SqlUuid>, _>(&owners)
                .execute(conn)?;
            range(include_str!("db/sql/seed/contacts.sql")).execute(conn)?;
            let deals: Vec<SeededDeal> = range(include_str!("db/sql/seed/deals.sql"))
                .bind::<BigInt, _>(i64::from(options.deals_per_client))
                .bind::<SqlUuid, _>(pipeline.id.0)
                .bind::<Array<SqlUuid>, _>(&open_stages)
                .bind::<SqlUuid, _>(won)
                .bind::<SqlUuid, _>(lost)
                .bind::<Array<SqlUuid>, _>(products.iter().map(|product| product.id.0).collect::<Vec<_>>())
                .bind::<Array<Numeric>, _>(products.iter().map(|product| product.price).collect::<Vec<_>>())
                .bind::<Array<Text>, _>(
                    products
                        .iter()
                        .map(|product| product.product_group.clone().unwrap_or_default())
                        .collect::<Vec<_>>(),
                )
                .bind::<Text, _>(&workspace.default_currency)
                .bind::<Array<Text>, _>(
                    products.iter().map(|product| product.name.clone()).collect::<Vec<_>>(),
                )
                .load(conn)?;
            let ids: Vec<uuid::Uuid> = deals.into_iter().map(|deal| deal.id).collect();
            apply_running_totals(conn, workspace_id, ids.clone(), Totals::Add)?;
            let clients: Vec<ClientId> = deals::table
                .filter(deals::workspace_id.eq(workspace_id))
                .filter(deals::id.eq_any(ids))
                .select(deals::client_id)
                .distinct()
                .load(conn)?;
            sales_line::recompute(conn, workspace_id, clients.into_iter().map(Some))?;
            range(include_str!("db/sql/seed/activities.sql"))
                .bind::<BigInt, _>(i64::from(options.activities_per_client))
                .execute(conn)?;
            Ok(())
        })?;
        progress.inc(to - from + 1);
        from = to + 1;
    }
    progress.set_message("indexing name words");
    diesel::sql_query(include_str!("db/sql/seed/client_name_words.sql"))
        .bind::<SqlUuid, _>(workspace_id.0)
        .execute(conn)?;
    // Fresh statistics first: planned on the empty tables' statistics, the stats queries below
    // join clients by nested loops and take minutes instead of seconds.
    progress.set_message("analyzing");
    diesel::sql_query(
        "ANALYZE clients, contacts, deals, deal_items, deal_stage_changes, activities, client_name_words",
    )
    .execute(conn)?;
    progress.set_message("computing client stats and RFM");
    conn.transaction(|conn| -> QueryResult<()> {
        diesel::sql_query(include_str!("db/sql/seed/client_stats.sql"))
            .bind::<SqlUuid, _>(workspace_id.0)
            .execute(conn)?;
        diesel::sql_query("ANALYZE clients").execute(conn)?;
        ClientStats::refresh_workspace(conn, workspace_id)?;
        // The seeded activities and clients were written without marking their days for the cells.
        crate::db::models::activity_cell::mark_all_stale(conn, workspace_id)?;
        crate::db::models::client_cell::mark_all_stale(conn, workspace_id)?;
        Ok(())
    })?;
    // Vacuumed and checkpointed now rather than by autovacuum in the middle of a benchmark.
    progress.set_message("vacuuming");
    conn.batch_execute(
        "VACUUM (ANALYZE) clients, contacts, deals, deal_items, deal_stage_changes, activities",
    )?;
    if let Err(error) = conn.batch_execute("CHECKPOINT") {
        log::info!("no checkpoint after seeding ({error}): it needs a superuser");
    }
    progress.finish_with_message("done");
    Ok(())
}

/// How many clients earlier runs with this seed added to the workspace.
fn existing_seeded(conn: &mut PgConnection, workspace: WorkspaceId, seed: i64) -> QueryResult<u64> {
    // Seeded clients are numbered from 1 without gaps: find the first number not taken.
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    let mut low: i64 = 0; // taken (0 stands for "none")
    let mut high: i64 = 1;
    let taken = |conn: &mut PgConnection, n: i64| -> QueryResult<bool> {
        let found: Found = diesel::sql_query(
            "SELECT count(*) AS count FROM clients WHERE workspace_id = $1 \
             AND id = md5('client' || ':' || $2::text || ':' || $3::text)::uuid",
        )
        .bind::<SqlUuid, _>(workspace.0)
        .bind::<BigInt, _>(seed)
        .bind::<BigInt, _>(n)
        .get_result(conn)?;
        Ok(found.count > 0)
    };
    while taken(conn, high)? {
        low = high;
        high *= 2;
    }
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if taken(conn, middle)? {
            low = middle;
        } else {
            high = middle;
        }
    }
    Ok(low as u64)
}

/// The sales users the clients are spread over, created once per workspace.
fn seed_users(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    options: &SeedOptions,
) -> Result<Vec<uuid::Uuid>, Box<dyn std::error::Error + Send + Sync>> {
    let hash = password::hash(SEED_PASSWORD)?;
    let mut ids = Vec::new();
    for index in 1..=options.sales_users().max(1) {
        let email = format!("seed-sales-{index}@seed.example");
        let existing = User::find_by_email_in_all_workspaces(conn, &email)?
            .into_iter()
            .find(|user| user.workspace_id == workspace);
        let user = match existing {
            Some(user) => user,
            None => User::create(
                conn,
                &NewUser {
                    workspace_id: workspace,
                    id: UserId::generate(),
                    email: &email,
                    full_name: &format!("Sales {index}"),
                    role: Role::Sales.as_str(),
                    team_id: None,
                    password_hash: &hash,
                },
            )?,
        };
        ids.push(user.id.0);
    }
    Ok(ids)
}

/// A catalogue of 40 products in five groups, priced in the workspace currency; created once.
fn seed_products(conn: &mut PgConnection, workspace: &Workspace, seed: i64) -> QueryResult<Vec<Product>> {
    let mut products = Vec::new();
    for (group_index, (group, names)) in PRODUCT_GROUPS.iter().enumerate() {
        for (index, name) in names.iter().enumerate() {
            let sku = format!("SEED-{}-{}", group.to_uppercase(), index + 1);
            if let Some(existing) = Product::find_by_sku(conn, workspace.id, &sku)? {
                products.push(existing);
                continue;
            }
            let now = chrono::Utc::now();
            // Prices from 150 to about 5,000, fixed by the seed.
            let cents =
                15_000 + ((seed.unsigned_abs() as usize * 7 + group_index * 131 + index * 977) % 485) * 1_000;
            let product = Product {
                workspace_id: workspace.id,
                id: ProductId::generate(),
                sku: sku.clone(),
                name: name.to_string(),
                product_group: Some(group.to_string()),
                unit: Some("pcs".to_string()),
                price: Decimal::new(cents as i64, 2),
                currency: workspace.default_currency.clone(),
                active: true,
                search_text: crate::domain::client::search_text([sku.as_str(), name, group]),
                version: 1,
                created_at: now,
                updated_at: now,
                external_refs: crate::db::json::Json(Vec::new()),
            };
            products.push(product.insert(conn)?);
        }
    }
    Ok(products)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(clients: u64, users: Option<u32>) -> SeedOptions {
        SeedOptions {
            workspace: uuid::Uuid::nil(),
            clients,
            seed: 1,
            deals_per_client: 3,
            activities_per_client: 8,
            users,
            batch: 10_000,
        }
    }

    #[test]
    fn the_sales_team_grows_with_the_client_base_unless_given() {
        assert_eq!(options(1_000_000, None).sales_users(), 500);
        assert_eq!(options(10_000, None).sales_users(), 5);
        assert_eq!(options(10_001, None).sales_users(), 6);
        assert_eq!(options(100, None).sales_users(), 3);
        assert_eq!(options(1_000_000, Some(20)).sales_users(), 20);
    }
}
