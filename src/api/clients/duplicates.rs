//! `GET /clients/duplicates`: pairs of live clients that look like one, for someone to merge
//! (`POST /clients/{id}/merge`).

use std::collections::{BTreeMap, HashMap};

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::api::extract::{Page, decode_cursor, page_limit};
use crate::api::security::charge_reads;
use crate::auth::{Principal, run_seeing};
use crate::db::models::Client;
use crate::db::models::client_duplicates::{find_pairs, find_similar_names};
use crate::db::schema::clients;
use crate::error::ApiError;
use crate::ids::{ClientId, UserId};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DuplicatesQuery {
    /// Only this client's pairs, names like its own included: the likeliest first, one page of up to `limit`.
    pub client_id: Option<ClientId>,
    /// How many pairs to return: 1 to 200, 50 when omitted.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Why two clients look like one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateReason {
    /// The same tax id.
    TaxId,
    /// An email in common (compared as stored: lower-cased, trimmed).
    Email,
    /// A phone in common (compared in E.164).
    Phone,
    /// The same display name, whatever the case and spacing.
    Name,
    /// Display names alike (trigram word similarity of at least 0.6); only with `client_id`.
    SimilarName,
}

impl DuplicateReason {
    /// How surely the reason alone makes two records one client, 0 to 1.
    fn weight(self, name_similarity: f32) -> f64 {
        match self {
            DuplicateReason::TaxId => 1.0,
            DuplicateReason::Email => 0.95,
            DuplicateReason::Phone => 0.9,
            DuplicateReason::Name => 0.8,
            DuplicateReason::SimilarName => 0.8 * f64::from(name_similarity),
        }
    }
}

/// One client of a pair, as much as deciding on a merge needs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DuplicateClient {
    pub id: ClientId,
    /// `person` or `company`.
    pub kind: String,
    pub display_name: String,
    pub owner_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Two live clients that look like one.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicatePairResponse {
    /// The two clients: the smaller id first, or with `client_id`, that client first.
    pub clients: Vec<DuplicateClient>,
    /// What they share, the strongest first.
    pub reasons: Vec<DuplicateReason>,
    /// How likely they are one client, 0 to 1: the strongest reason's weight (a tax id 1, an email 0.95, a phone
    /// 0.9, the same name 0.8, a similar name 0.8 times its similarity).
    #[schema(minimum = 0, maximum = 1)]
    pub score: f64,
}

/// A pair found, before its clients are read.
struct Found {
    clients: [ClientId; 2],
    reasons: Vec<DuplicateReason>,
    score: f64,
}

impl Found {
    fn new(clients: [ClientId; 2], mut reasons: Vec<DuplicateReason>, name_similarity: f32) -> Self {
        reasons.sort();
        reasons.dedup();
        let score = reasons.iter().map(|reason| reason.weight(name_similarity)).fold(0.0, f64::max);
        Found { clients, reasons, score }
    }
}

/// List pairs of clients that look like duplicates.
///
/// Pairs of live clients you see that share a normalised email, phone or tax id, in the order of their ids; with
/// `client_id`, that client's pairs, also with clients of the same or a similar name, the likeliest first. Merge a
/// pair with `POST /clients/{id}/merge`.
#[utoipa::path(
    tag = "clients",
    operation_id = "list_client_duplicates",
    security(("bearer" = [])),
    params(DuplicatesQuery),
    responses(
        (status = 200, description = "A page of pairs", body = Page<DuplicatePairResponse>),
        (status = 404, description = "No live client `client_id` that you see", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/clients/duplicates")]
pub async fn list_client_duplicates(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<DuplicatesQuery>,
) -> Result<web::Json<Page<DuplicatePairResponse>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after: Option<(Uuid, Uuid)> = decode_cursor(query.cursor.as_deref())?;
    let client = query.client_id;
    let page = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let found = match client {
            None => find_pairs(conn, scope, after, i64::from(limit) + 1)?
                .into_iter()
                .map(|pair| {
                    let reasons = pair.reasons.iter().filter_map(|reason| reason_named(reason)).collect();
                    Found::new([ClientId(pair.first), ClientId(pair.second)], reasons, 0.0)
                })
                .collect(),
            Some(id) => pairs_of(conn, scope, id, limit)?,
        };
        let mut read: Vec<ClientId> =
            found.iter().take(limit as usize).flat_map(|pair| pair.clients).collect();
        read.sort();
        read.dedup();
        charge_reads(conn, &principal, scope, &read)?;
        let clients: HashMap<ClientId, DuplicateClient> = clients::table
            .filter(clients::workspace_id.eq(principal.workspace_id))
            .filter(clients::id.eq_any(&read))
            .select(Client::as_select())
            .load(conn)?
            .into_iter()
            .map(|client| (client.id, summary(client)))
            .collect();
        let key = |pair: &Found| (pair.clients[0].0, pair.clients[1].0);
        Ok(Page::from_rows(found, limit, key, |pair| DuplicatePairResponse {
            clients: pair.clients.iter().filter_map(|id| clients.get(id).cloned()).collect(),
            reasons: pair.reasons,
            score: pair.score,
        }))
    })
    .await?;
    Ok(web::Json(page))
}

/// One client's pairs: the stored clients that share a key with it, and those whose names are like
/// its own; the likeliest first, at most `limit`.
fn pairs_of(
    conn: &mut PgConnection,
    scope: &crate::db::visibility::ClientScope,
    id: ClientId,
    limit: u32,
) -> Result<Vec<Found>, ApiError> {
    let client = Client::find(conn, scope, id)?;
    let mut reasons: BTreeMap<ClientId, (Vec<DuplicateReason>, f32)> = BTreeMap::new();
    let shares = |mine: &[String], theirs: &[String]| mine.iter().any(|key| theirs.contains(key));
    let others = Client::find_duplicates(
        conn,
        client.workspace_id,
        &client.email_keys,
        &client.phone_keys,
        client.tax_id.as_deref(),
        Some(client.id),
    )?;
    for other in others.into_iter().filter(|other| scope.admits_client(other.id, other.owner_id)) {
        let entry = reasons.entry(other.id).or_default();
        if shares(&client.email_keys, &other.email_keys) {
            entry.0.push(DuplicateReason::Email);
        }
        if shares(&client.phone_keys, &other.phone_keys) {
            entry.0.push(DuplicateReason::Phone);
        }
        if client.tax_id.is_some() && client.tax_id == other.tax_id {
            entry.0.push(DuplicateReason::TaxId);
        }
    }
    for similar in find_similar_names(conn, scope, &client.display_name, client.id, i64::from(limit))? {
        let entry = reasons.entry(ClientId(similar.id)).or_default();
        entry.0.push(if similar.same_name { DuplicateReason::Name } else { DuplicateReason::SimilarName });
        entry.1 = similar.similarity;
    }
    let mut found: Vec<Found> = reasons
        .into_iter()
        .map(|(other, (reasons, similarity))| Found::new([client.id, other], reasons, similarity))
        .collect();
    found.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.clients[1].cmp(&b.clients[1])));
    found.truncate(limit as usize);
    Ok(found)
}

fn reason_named(name: &str) -> Option<DuplicateReason> {
    match name {
        "email" => Some(DuplicateReason::Email),
        "phone" => Some(DuplicateReason::Phone),
        "tax_id" => Some(DuplicateReason::TaxId),
        _ => None,
    }
}

fn summary(client: Client) -> DuplicateClient {
    DuplicateClient {
        id: client.id,
        kind: client.kind,
        display_name: client.display_name,
        owner_id: client.owner_id,
        created_at: client.created_at,
        updated_at: client.updated_at,
    }
}
