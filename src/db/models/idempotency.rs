//! Stored first answers to writes sent with an `Idempotency-Key` (see `idempotency`).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::db::schema::idempotency_keys;
use crate::ids::{UserId, WorkspaceId};

/// How long an answer is kept for retries.
pub const KEPT_FOR: Duration = Duration::hours(24);

/// How long a request may hold its key before a retry may take it over: longer than any write
/// takes, short enough that a request whose process died doesn't block its retries for long.
pub const LEASE: Duration = Duration::seconds(60);

/// A stored answer: its status, the headers worth replaying, and its body.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the first look at a key found.
#[derive(Debug)]
pub enum Claim {
    /// The key is this request's to run under.
    Claimed,
    /// Another request with the key is running.
    Running,
    /// The key was used for a different request.
    Reused,
    /// The request ran: its answer.
    Answered(StoredAnswer),
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
struct Row {
    fingerprint: Vec<u8>,
    running: bool,
    status: Option<i16>,
    headers: Option<serde_json::Value>,
    body: Option<Vec<u8>>,
    lease_until: DateTime<Utc>,
}

/// One user's key in a workspace.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub workspace: WorkspaceId,
    pub user: UserId,
    pub key: String,
}

impl IdempotencyKey {
    /// Claims the key for a request with `fingerprint`, or says why not. Keys older than
    /// [`KEPT_FOR`] are forgotten first (the user's own: no job sweeps across workspaces).
    pub fn claim(
        &self,
        conn: &mut PgConnection,
        fingerprint: &[u8],
        now: DateTime<Utc>,
    ) -> QueryResult<Claim> {
        diesel::delete(
            idempotency_keys::table
                .filter(idempotency_keys::workspace_id.eq(self.workspace))
                .filter(idempotency_keys::user_id.eq(self.user))
                .filter(idempotency_keys::created_at.lt(now - KEPT_FOR)),
        )
        .execute(conn)?;
        let inserted = diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::workspace_id.eq(self.workspace),
                idempotency_keys::user_id.eq(self.user),
                idempotency_keys::key.eq(&self.key),
                idempotency_keys::fingerprint.eq(fingerprint),
                idempotency_keys::created_at.eq(now),
                idempotency_keys::lease_until.eq(now + LEASE),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if inserted > 0 {
            return Ok(Claim::Claimed);
        }
        let Some(row) = self.row().select(Row::as_select()).first(conn).optional()? else {
            // Forgotten between the insert and the read: the retry may simply run again.
            return Ok(Claim::Running);
        };
        if row.fingerprint != fingerprint {
            return Ok(Claim::Reused);
        }
        if row.running {
            if row.lease_until > now {
                return Ok(Claim::Running);
            }
            // The first request died holding the key: take it over, unless another retry did.
            let taken = diesel::update(self.row().filter(idempotency_keys::lease_until.eq(row.lease_until)))
                .set(idempotency_keys::lease_until.eq(now + LEASE))
                .execute(conn)?;
            return Ok(if taken > 0 { Claim::Claimed } else { Claim::Running });
        }
        let headers = row
            .headers
            .and_then(|headers| serde_json::from_value::<Vec<(String, String)>>(headers).ok())
            .unwrap_or_default();
        Ok(Claim::Answered(StoredAnswer {
            status: row.status.and_then(|status| u16::try_from(status).ok()).unwrap_or(200),
            headers,
            body: row.body.unwrap_or_default(),
        }))
    }

    /// Stores the answer of the request that claimed the key.
    pub fn answer(&self, conn: &mut PgConnection, answer: &StoredAnswer) -> QueryResult<()> {
        let headers = serde_json::to_value(&answer.headers).unwrap_or_default();
        diesel::update(self.row())
            .set((
                idempotency_keys::running.eq(false),
                idempotency_keys::status.eq(i16::try_from(answer.status).unwrap_or(500)),
                idempotency_keys::headers.eq(headers),
                idempotency_keys::body.eq(&answer.body),
            ))
            .execute(conn)
            .map(drop)
    }

    /// Gives the key up (the request failed on the server's side): a retry runs anew.
    pub fn release(&self, conn: &mut PgConnection) -> QueryResult<()> {
        diesel::delete(self.row()).execute(conn).map(drop)
    }

    fn row(&self) -> diesel::dsl::Find<idempotency_keys::table, (WorkspaceId, UserId, String)> {
        idempotency_keys::table.find((self.workspace, self.user, self.key.clone()))
    }
}
