//! The consent ledger's rows (see `domain::consent`), and the current state each client and contact
//! keeps of them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Uuid as SqlUuid};
use uuid::Uuid;

use crate::db::json::Json;
use crate::db::schema::consent_records;
use crate::domain::consent::CurrentConsents;
use crate::ids::{ClientId, ContactId, UserId, WorkspaceId};

/// One grant or withdrawal, as recorded. Never updated.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = consent_records, check_for_backend(diesel::pg::Pg))]
pub struct ConsentRecord {
    pub workspace_id: WorkspaceId,
    pub id: Uuid,
    pub client_id: Option<ClientId>,
    pub contact_id: Option<ContactId>,
    pub purpose: String,
    pub state: String,
    pub occurred_at: DateTime<Utc>,
    pub channel: String,
    pub wording_version: Option<String>,
    /// Who recorded it; None: the person, through an unsubscribe link.
    pub recorded_by: Option<UserId>,
    pub recorded_at: DateTime<Utc>,
}

/// Whose consent: a client's own, or one of its contact persons'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSubject {
    Client(ClientId),
    Contact(ContactId),
}

impl ConsentSubject {
    /// The entity's name in the change log and in its table's name.
    pub fn entity(self) -> &'static str {
        match self {
            ConsentSubject::Client(_) => "client",
            ConsentSubject::Contact(_) => "contact",
        }
    }

    pub fn id(self) -> Uuid {
        match self {
            ConsentSubject::Client(id) => id.0,
            ConsentSubject::Contact(id) => id.0,
        }
    }

    fn client_id(self) -> Option<ClientId> {
        match self {
            ConsentSubject::Client(id) => Some(id),
            ConsentSubject::Contact(_) => None,
        }
    }

    fn contact_id(self) -> Option<ContactId> {
        match self {
            ConsentSubject::Contact(id) => Some(id),
            ConsentSubject::Client(_) => None,
        }
    }

    /// The table that keeps the subject's current consents, and the ledger's column naming it.
    fn table_and_column(self) -> (&'static str, &'static str) {
        match self {
            ConsentSubject::Client(_) => ("clients", "client_id"),
            ConsentSubject::Contact(_) => ("contacts", "contact_id"),
        }
    }
}

/// A record about to be written: what the caller said, the rest filled in by [`ConsentRecord::new`].
pub struct ConsentFacts {
    pub purpose: String,
    pub state: &'static str,
    pub occurred_at: DateTime<Utc>,
    pub channel: String,
    pub wording_version: Option<String>,
}

#[derive(QueryableByName)]
struct Refreshed {
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    consents: Json<CurrentConsents>,
}

impl ConsentRecord {
    pub fn new(
        workspace: WorkspaceId,
        subject: ConsentSubject,
        facts: ConsentFacts,
        recorded_by: Option<UserId>,
        recorded_at: DateTime<Utc>,
    ) -> Self {
        Self {
            workspace_id: workspace,
            id: Uuid::now_v7(),
            client_id: subject.client_id(),
            contact_id: subject.contact_id(),
            purpose: facts.purpose,
            state: facts.state.to_string(),
            occurred_at: facts.occurred_at,
            channel: facts.channel,
            wording_version: facts.wording_version,
            recorded_by,
            recorded_at,
        }
    }

    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<()> {
        diesel::insert_into(consent_records::table).values(self).execute(conn).map(drop)
    }

    /// The subject's records in the order they happened (and, at the same moment, were recorded).
    pub fn of_subject(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        subject: ConsentSubject,
    ) -> QueryResult<Vec<ConsentRecord>> {
        let query = consent_records::table.filter(consent_records::workspace_id.eq(workspace)).into_boxed();
        let query = match subject {
            ConsentSubject::Client(id) => query.filter(consent_records::client_id.eq(id)),
            ConsentSubject::Contact(id) => query.filter(consent_records::contact_id.eq(id)),
        };
        query
            .order((
                consent_records::occurred_at.asc(),
                consent_records::recorded_at.asc(),
                consent_records::id.asc(),
            ))
            .select(ConsentRecord::as_select())
            .load(conn)
    }

    /// Hands the records of merged clients or contacts to the survivor, whose consent they were.
    pub fn move_to(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        merged: &[Uuid],
        survivor: ConsentSubject,
    ) -> QueryResult<usize> {
        let records = consent_records::table.filter(consent_records::workspace_id.eq(workspace));
        match survivor {
            ConsentSubject::Client(id) => {
                diesel::update(records.filter(consent_records::client_id.eq_any(merged)))
                    .set(consent_records::client_id.eq(id))
                    .execute(conn)
            }
            ConsentSubject::Contact(id) => {
                diesel::update(records.filter(consent_records::contact_id.eq_any(merged)))
                    .set(consent_records::contact_id.eq(id))
                    .execute(conn)
            }
        }
    }
}

/// The latest record of each purpose by when it happened (and, at the same moment, was recorded):
/// a grant recorded late, dated before a withdrawal, does not undo the withdrawal.
const LATEST: &str = "COALESCE(( \
     SELECT jsonb_object_agg(purpose, jsonb_build_object('state', state, 'occurred_at', occurred_at, 'channel', channel)) \
     FROM (SELECT DISTINCT ON (purpose) purpose, state, occurred_at, channel \
           FROM consent_records WHERE workspace_id = $1 AND {column} = $2 \
           ORDER BY purpose, occurred_at DESC, recorded_at DESC, id DESC) AS latest \
 ), '{}')";

#[derive(QueryableByName)]
struct Latest {
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    consents: Json<CurrentConsents>,
}

/// The subject's current consents as its records say, without writing them.
pub fn latest(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    subject: ConsentSubject,
) -> QueryResult<CurrentConsents> {
    let (_, column) = subject.table_and_column();
    let latest: Latest =
        diesel::sql_query(format!("SELECT {} AS consents", LATEST.replace("{column}", column)))
            .bind::<SqlUuid, _>(workspace.0)
            .bind::<SqlUuid, _>(subject.id())
            .get_result(conn)?;
    Ok(latest.consents.0)
}

/// Rewrites the subject's current consents from its records, as a new version of the client or
/// contact written by `by`: the new version and the consents.
pub fn refresh_current(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    subject: ConsentSubject,
    by: Option<UserId>,
) -> QueryResult<(i32, CurrentConsents)> {
    let (table, column) = subject.table_and_column();
    let sql = format!(
        "UPDATE {table} SET consents = {}, version = version + 1, updated_at = now(), updated_by = $3 \
         WHERE workspace_id = $1 AND id = $2 RETURNING version, consents",
        LATEST.replace("{column}", column)
    );
    let refreshed: Refreshed = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(workspace.0)
        .bind::<SqlUuid, _>(subject.id())
        .bind::<diesel::sql_types::Nullable<SqlUuid>, _>(by.map(|user| user.0))
        .get_result(conn)?;
    Ok((refreshed.version, refreshed.consents.0))
}
