//! API keys: credentials an integration (an accounting system, an e-shop, telephony) uses in
//! place of a person's password. Owners and admins issue, rotate and revoke them; the secret is
//! shown once. How a request is authenticated by key is `auth::api_key`.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Duration, Utc};
use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::extract::{Page, PageParams, ValidatedJson};
use crate::api::record_change;
use crate::api::users::ensure_team_exists;
use crate::auth::api_key::parse_network;
use crate::auth::rate_limit::DEFAULT_KEY_REQUESTS_PER_MINUTE;
use crate::auth::scopes::Scope;
use crate::auth::tokens::OpaqueToken;
use crate::auth::{Principal, run_as};
use crate::db::models::api_key::{ApiKey, KeyWithPrincipal, NewApiKey};
use crate::db::models::change_event::ChangeSet;
use crate::domain::FieldCode;
use crate::domain::text::non_blank;
use crate::error::ApiError;
use crate::ids::{TeamId, UserId};
use crate::state::AppState;

/// How long a rotated-out secret keeps working unless the rotation says otherwise: a day, time
/// enough to roll the new one out to every process that holds the key.
const DEFAULT_GRACE: Duration = Duration::hours(24);
/// The longest a rotated-out secret may keep working.
const LONGEST_GRACE_SECONDS: i64 = 30 * 24 * 3600;

/// An API key as the API shows it: never its secret, which is shown once, when issued.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    /// The key's id, which is also its principal's: the `actor_id` of its changes in the audit
    /// trail, and the `created_by`/`updated_by` of the records it writes.
    pub id: UserId,
    #[schema(example = "1C accounting sync")]
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The team whose clients the key sees and writes (as a manager of the team would); `null`
    /// for the whole workspace (as an admin would).
    pub team_id: Option<TeamId>,
    /// Networks the key may be used from; empty for anywhere.
    #[schema(example = json!(["203.0.113.0/24"]))]
    pub allowed_networks: Vec<String>,
    pub requests_per_minute: i32,
    pub expires_at: Option<DateTime<Utc>>,
    /// The secret's last four characters, to tell keys apart.
    #[schema(example = "…x7Qa")]
    pub secret_hint: String,
    /// Until when the secret replaced by the last rotation still works.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The address of the last use.
    pub last_used_from: Option<String>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<KeyWithPrincipal> for ApiKeyResponse {
    fn from(found: KeyWithPrincipal) -> Self {
        let key = found.key;
        Self {
            id: key.id,
            name: key.name,
            scopes: key.scopes.iter().filter_map(|scope| scope.parse().ok()).collect(),
            team_id: found.team_id,
            allowed_networks: key.allowed_networks,
            requests_per_minute: key.requests_per_minute,
            expires_at: key.expires_at,
            secret_hint: key.secret_hint,
            previous_secret_valid_until: key.previous_secret_until,
            last_used_at: key.last_used_at,
            last_used_from: key.last_used_from,
            created_by: key.created_by,
            created_at: key.created_at,
            rotated_at: key.rotated_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A key just issued or rotated, with its secret: store it now, it is never shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedApiKey {
    pub api_key: ApiKeyResponse,
    /// Send it as `Authorization: Bearer <secret>`.
    #[schema(
        example = "crm_live_AZOlzU8heUqeHTHKs4TNUQGTpc1PIXVKnh0tLF8LRSYd1T8Q3pqUJ3Uge9rbGY5mpuDpbvB7eB3x7Qa"
    )]
    pub secret: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "1C accounting sync", "scopes": ["clients:write", "deals:write", "products:read"], "allowed_networks": ["203.0.113.0/24"]}))]
pub struct CreateApiKey {
    /// What the key is for, shown as its principal's name.
    #[validate(length(min = 1, max = 200))]
    #[schema(example = "1C accounting sync", min_length = 1, max_length = 200)]
    pub name: String,
    #[validate(length(min = 1, max = 20))]
    #[schema(min_items = 1, max_items = 20)]
    pub scopes: Vec<Scope>,
    /// The team whose clients the key sees and writes; absent or `null` for the whole workspace.
    pub team_id: Option<TeamId>,
    /// Networks (CIDR, or single addresses) the key may be used from; absent or empty for anywhere.
    #[serde(default)]
    #[validate(length(max = 50))]
    #[schema(max_items = 50, example = json!(["203.0.113.0/24"]))]
    pub allowed_networks: Vec<String>,
    /// Requests a minute, 600 unless given.
    #[validate(range(min = 1, max = 100_000))]
    #[schema(minimum = 1, maximum = 100_000)]
    pub requests_per_minute: Option<i32>,
    /// When the key stops working; absent or `null` for never. Must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RotateParams {
    /// Seconds the current secret keeps working beside the new one: 86,400 (a day) unless given;
    /// 0 stops it at once; at most 2,592,000 (30 days).
    #[param(minimum = 0, maximum = 2_592_000)]
    pub grace_seconds: Option<i64>,
}

/// List the workspace's API keys (owners and admins).
///
/// Every key, revoked ones too, oldest first, with its scopes, limits and when and from where it was last used.
/// Never the secrets.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "list_api_keys",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, description = "One page of keys", body = Page<ApiKeyResponse>))
)]
#[get("/api-keys")]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    principal: Principal,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<ApiKeyResponse>>, ApiError> {
    principal.require_admin("manage API keys")?;
    let limit = page.limit()?;
    let after: Option<UserId> = page.after()?;
    let rows = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(ApiKey::list(conn, principal.workspace_id, after, i64::from(limit) + 1)?)
    })
    .await?;
    Ok(web::Json(Page::from_rows(rows, limit, |found| found.key.id, ApiKeyResponse::from)))
}

/// Issue an API key (owners and admins).
///
/// The answer holds the key's secret, `crm_live_…`: it is shown this once and stored only as a hash. The key
/// acts as a principal of its own: with the scopes given, over the given team's clients (as a manager of it) or
/// the whole workspace (as an admin), from the given networks, within its rate limit, until it expires or is
/// revoked. Records it creates belong to it unless an owner is given.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "create_api_key",
    security(("bearer" = [])),
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "Issued; the secret is in the answer only", body = IssuedApiKey,
            headers(("Location" = String, description = "The new key's URL"))),
    )
)]
#[post("/api-keys")]
pub async fn create_api_key(
    state: web::Data<AppState>,
    principal: Principal,
    body: ValidatedJson<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin("manage API keys")?;
    let body = body.0;
    let name = non_blank("name", &body.name)?;
    let now = Utc::now();
    if body.expires_at.is_some_and(|at| at <= now) {
        return Err(ApiError::invalid_field("expires_at", FieldCode::Range, "must be in the future"));
    }
    let allowed_networks = networks(&body.allowed_networks)?;
    let mut scopes: Vec<String> = body.scopes.iter().map(Scope::to_string).collect();
    scopes.sort();
    scopes.dedup();
    let token = OpaqueToken::generate(principal.workspace_id);
    let secret = token.to_api_key();
    let secret_hint = hint(&secret);
    let issued = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            if let Some(team) = body.team_id {
                ensure_team_exists(conn, principal.workspace_id, team)?;
            }
            let new = NewApiKey {
                workspace_id: principal.workspace_id,
                id: UserId(token.id),
                name: &name,
                scopes,
                allowed_networks,
                requests_per_minute: body
                    .requests_per_minute
                    .unwrap_or(i32::try_from(DEFAULT_KEY_REQUESTS_PER_MINUTE).unwrap_or(600)),
                expires_at: body.expires_at,
                team_id: body.team_id,
                secret_hash: token.secret_hash(),
                secret_hint,
                created_by: principal.user_id,
            };
            let key = new.insert(conn)?;
            let changes = ChangeSet::default()
                .field("name", None, &key.key.name)
                .field("scopes", None, &key.key.scopes)
                .field("team_id", None, &key.team_id)
                .field("allowed_networks", None, &key.key.allowed_networks)
                .field("requests_per_minute", None, &key.key.requests_per_minute)
                .field("expires_at", None, &key.key.expires_at)
                .secret("secret", true);
            record_change(conn, &principal, "api_key", key.key.id.0, "created", 1, changes)?;
            Ok::<_, ApiError>(key)
        })
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/api-keys/{}", issued.key.id)))
        .json(IssuedApiKey { api_key: issued.into(), secret }))
}

/// Get one API key (owners and admins).
///
/// The key with its scopes, limits and last use; never its secret.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "get_api_key",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The key's id")),
    responses((status = 200, description = "The key", body = ApiKeyResponse))
)]
#[get("/api-keys/{id}")]
pub async fn get_api_key(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<UserId>,
) -> Result<web::Json<ApiKeyResponse>, ApiError> {
    principal.require_admin("manage API keys")?;
    let id = id.into_inner();
    let key = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(ApiKey::find(conn, principal.workspace_id, id)?)
    })
    .await?;
    Ok(web::Json(key.into()))
}

/// Rotate an API key's secret (owners and admins).
///
/// Issues a new secret, shown this once. The current one keeps working beside it for `grace_seconds` (a day
/// unless given; 0 stops it at once), time to roll the new one out. A secret rotated out earlier stops now.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "rotate_api_key",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The key's id"), RotateParams),
    responses((status = 200, description = "The new secret; the old one works until `previous_secret_valid_until`", body = IssuedApiKey))
)]
#[post("/api-keys/{id}/rotate")]
pub async fn rotate_api_key(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<UserId>,
    params: web::Query<RotateParams>,
) -> Result<web::Json<IssuedApiKey>, ApiError> {
    principal.require_admin("manage API keys")?;
    let grace_seconds = params.grace_seconds.unwrap_or(DEFAULT_GRACE.num_seconds());
    if !(0..=LONGEST_GRACE_SECONDS).contains(&grace_seconds) {
        return Err(ApiError::invalid_field(
            "grace_seconds",
            FieldCode::Range,
            format!("must be from 0 to {LONGEST_GRACE_SECONDS}"),
        ));
    }
    let id = id.into_inner();
    let now = Utc::now();
    let previous_until = now + Duration::seconds(grace_seconds);
    // The key's id stays: only the secret is new.
    let token = OpaqueToken { id: id.0, ..OpaqueToken::generate(principal.workspace_id) };
    let secret = token.to_api_key();
    let secret_hint = hint(&secret);
    let rotated = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let changed = ApiKey::rotate(
                conn,
                principal.workspace_id,
                id,
                &token.secret_hash(),
                &secret_hint,
                previous_until,
                now,
            )?;
            if changed == 0 {
                return Err(ApiError::NotFound);
            }
            let changes = ChangeSet::default()
                .field("previous_secret_valid_until", None, &previous_until)
                .secret("secret", true);
            record_change(conn, &principal, "api_key", id.0, "rotated", 1, changes)?;
            Ok(ApiKey::find(conn, principal.workspace_id, id)?)
        })
    })
    .await?;
    Ok(web::Json(IssuedApiKey { api_key: rotated.into(), secret }))
}

/// Revoke an API key (owners and admins).
///
/// The key stops working at once, both its secrets. It stays listed, with `revoked_at`, for the audit trail.
#[utoipa::path(
    tag = "api-keys",
    operation_id = "revoke_api_key",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The key's id")),
    responses((status = 204, description = "Revoked"))
)]
#[delete("/api-keys/{id}")]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin("manage API keys")?;
    let id = id.into_inner();
    run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            if ApiKey::revoke(conn, principal.workspace_id, id, Utc::now())? == 0 {
                return Err(ApiError::NotFound);
            }
            record_change(conn, &principal, "api_key", id.0, "revoked", 1, ChangeSet::default())
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The allow-list as stored: each network in its canonical form, or the first that isn't one.
fn networks(given: &[String]) -> Result<Vec<String>, ApiError> {
    given
        .iter()
        .enumerate()
        .map(|(index, text)| {
            parse_network(text.trim()).map(|network| network.to_string()).ok_or_else(|| {
                ApiError::invalid_field(
                    &format!("allowed_networks[{index}]"),
                    FieldCode::Format,
                    format!("{text:?} is not an IP address or a CIDR network such as 203.0.113.0/24"),
                )
            })
        })
        .collect()
}

/// The last four characters of a key, to tell it from others without showing it.
fn hint(key: &str) -> String {
    format!("…{}", &key[key.len().saturating_sub(4)..])
}
