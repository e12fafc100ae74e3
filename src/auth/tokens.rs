//! Access tokens (short-lived HS256 JWTs); refresh tokens (opaque, rotating, stored hashed); API
//! keys (opaque, long-lived, stored hashed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Secret;
use crate::db::models::consent_record::ConsentSubject;
use crate::domain::role::Role;
use crate::ids::{UserId, WorkspaceId};

pub const ACCESS_TOKEN_TTL: Duration = Duration::minutes(15);
pub const REFRESH_TOKEN_TTL: Duration = Duration::days(30);
const ISSUER: &str = "crm";
const AUDIENCE: &str = "crm-api";
const UNSUBSCRIBE_AUDIENCE: &str = "crm-unsubscribe";

/// The claims of an access token. The role is the one the user had when the token was issued:
/// every request checks it against the database before its first query (`auth::run_as`), so a
/// change of role or a deactivation applies at once.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    /// The workspace the token was issued for.
    pub ws: WorkspaceId,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// What an unsubscribe link carries (`GET /unsubscribe/{token}`): whose consent to which purpose
/// it withdraws. It has no expiry: a mailing's link keeps working as long as people read the
/// mailing (and the secret stays the same).
#[derive(Debug, Serialize, Deserialize)]
pub struct UnsubscribeClaims {
    pub ws: WorkspaceId,
    pub subject: ConsentSubject,
    pub purpose: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
}

/// The HS256 keys and the validation rules, built once at start-up: access tokens', and
/// unsubscribe links' with a key of their own (derived from the same secret), so that neither can
/// pass for the other.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    unsubscribe_encoding: EncodingKey,
    unsubscribe_decoding: DecodingKey,
    unsubscribe_validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(<redacted>)")
    }
}

impl JwtKeys {
    pub fn new(secret: &Secret) -> Self {
        // Only HS256 is accepted, whatever the token's header claims.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        let mut unsubscribe_validation = Validation::new(Algorithm::HS256);
        unsubscribe_validation.set_required_spec_claims(&["iss", "aud"]);
        unsubscribe_validation.set_issuer(&[ISSUER]);
        unsubscribe_validation.set_audience(&[UNSUBSCRIBE_AUDIENCE]);
        unsubscribe_validation.validate_exp = false;
        let unsubscribe_key = Sha256::new()
            .chain_update(b"crm unsubscribe links\0")
            .chain_update(secret.expose().as_bytes())
            .finalize();
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            unsubscribe_encoding: EncodingKey::from_secret(&unsubscribe_key),
            unsubscribe_decoding: DecodingKey::from_secret(&unsubscribe_key),
            unsubscribe_validation,
        }
    }

    /// The token of a link that withdraws `subject`'s consent to `purpose`.
    pub fn issue_unsubscribe(
        &self,
        workspace: WorkspaceId,
        subject: ConsentSubject,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> jsonwebtoken::errors::Result<String> {
        let claims = UnsubscribeClaims {
            ws: workspace,
            subject,
            purpose: purpose.to_string(),
            iss: ISSUER.to_string(),
            aud: UNSUBSCRIBE_AUDIENCE.to_string(),
            iat: now.timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.unsubscribe_encoding)
    }

    pub fn verify_unsubscribe(&self, token: &str) -> jsonwebtoken::errors::Result<UnsubscribeClaims> {
        jsonwebtoken::decode::<UnsubscribeClaims>(
            token,
            &self.unsubscribe_decoding,
            &self.unsubscribe_validation,
        )
        .map(|data| data.claims)
    }

    pub fn issue(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        role: Role,
        now: DateTime<Utc>,
    ) -> jsonwebtoken::errors::Result<String> {
        let claims = Claims {
            sub: user,
            ws: workspace,
            role,
            iss: ISSUER.to_string(),
            aud: AUDIENCE.to_string(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + ACCESS_TOKEN_TTL).timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    pub fn verify(&self, token: &str) -> jsonwebtoken::errors::Result<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims)
    }
}

/// An opaque credential: a workspace, a row's id and a random secret. The workspace and id locate
/// the row (its key includes the workspace); only the secret's hash is stored. A refresh token
/// writes it `<workspace>.<token id>.<secret>`; an API key `crm_live_` and the three packed in
/// base64url, so that secret scanners can tell a leaked key by its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaqueToken {
    pub workspace: WorkspaceId,
    pub id: Uuid,
    pub secret: [u8; 32],
}

impl OpaqueToken {
    pub fn generate(workspace: WorkspaceId) -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self { workspace, id: Uuid::now_v7(), secret }
    }

    pub fn parse(token: &str) -> Option<Self> {
        let mut parts = token.split('.');
        let workspace = Uuid::try_parse(parts.next()?).ok()?;
        let id = Uuid::try_parse(parts.next()?).ok()?;
        let secret = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?.try_into().ok()?;
        parts.next().is_none().then_some(Self { workspace: WorkspaceId(workspace), id, secret })
    }

    pub fn secret_hash(&self) -> Vec<u8> {
        Sha256::digest(self.secret).to_vec()
    }

    /// Compares in constant time, so response times don't leak how much of a guess was right.
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.secret_hash().ct_eq(stored_hash).into()
    }
}

/// What every API key starts with.
pub const API_KEY_PREFIX: &str = "crm_live_";

impl OpaqueToken {
    pub fn to_api_key(&self) -> String {
        let packed = [self.workspace.0.as_bytes().as_slice(), self.id.as_bytes(), &self.secret].concat();
        format!("{API_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(packed))
    }

    pub fn parse_api_key(key: &str) -> Option<Self> {
        let packed = URL_SAFE_NO_PAD.decode(key.strip_prefix(API_KEY_PREFIX)?).ok()?;
        let (workspace, rest) = packed.split_first_chunk::<16>()?;
        let (id, secret) = rest.split_first_chunk::<16>()?;
        Some(Self {
            workspace: WorkspaceId(Uuid::from_bytes(*workspace)),
            id: Uuid::from_bytes(*id),
            secret: secret.try_into().ok()?,
        })
    }
}

impl std::fmt::Display for OpaqueToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}",
            self.workspace.0.simple(),
            self.id.simple(),
            URL_SAFE_NO_PAD.encode(self.secret)
        )
    }
}

/// A fresh random secret for signing tokens, for the embedded mode's generated CRM_JWT_SECRET.
pub fn generate_secret() -> Secret {
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(&Secret::new("an-example-secret-that-is-long-enough"))
    }

    #[test]
    fn a_fresh_token_verifies() -> jsonwebtoken::errors::Result<()> {
        let (workspace, user) = (WorkspaceId::generate(), UserId::generate());
        let claims = keys().verify(&keys().issue(workspace, user, Role::Sales, Utc::now())?)?;
        assert_eq!((claims.ws, claims.sub, claims.role), (workspace, user, Role::Sales));
        Ok(())
    }

    #[test]
    fn expired_and_future_tokens_are_refused() -> jsonwebtoken::errors::Result<()> {
        let keys = keys();
        let expired = keys.issue(
            WorkspaceId::generate(),
            UserId::generate(),
            Role::Owner,
            Utc::now() - Duration::hours(1),
        )?;
        assert!(keys.verify(&expired).is_err());
        let not_yet = keys.issue(
            WorkspaceId::generate(),
            UserId::generate(),
            Role::Owner,
            Utc::now() + Duration::hours(1),
        )?;
        assert!(keys.verify(&not_yet).is_err());
        Ok(())
    }

    #[test]
    fn unsubscribe_links_and_access_tokens_do_not_pass_for_each_other() -> jsonwebtoken::errors::Result<()> {
        let keys = keys();
        let (workspace, user) = (WorkspaceId::generate(), UserId::generate());
        let subject = ConsentSubject::Client(crate::ids::ClientId::generate());
        let link = keys.issue_unsubscribe(workspace, subject, "marketing_email", Utc::now())?;
        let claims = keys.verify_unsubscribe(&link)?;
        assert_eq!(
            (claims.ws, claims.subject, claims.purpose.as_str()),
            (workspace, subject, "marketing_email")
        );
        assert!(keys.verify(&link).is_err(), "a link is no access token");
        assert!(keys.verify_unsubscribe(&keys.issue(workspace, user, Role::Owner, Utc::now())?).is_err());
        let other = JwtKeys::new(&Secret::new("another-secret-that-is-long-enough-too"));
        assert!(other.verify_unsubscribe(&link).is_err(), "a link is signed by this secret");
        Ok(())
    }

    #[test]
    fn only_hs256_is_accepted() {
        assert_eq!(keys().validation.algorithms, vec![Algorithm::HS256]);
    }

    #[test]
    fn refresh_tokens_round_trip_and_reject_garbage() {
        let parts = OpaqueToken::generate(WorkspaceId::generate());
        let parsed = OpaqueToken::parse(&parts.to_string());
        assert_eq!(parsed.as_ref(), Some(&parts));
        assert!(parts.matches(&parts.secret_hash()));
        assert!(OpaqueToken::parse("a.b.c").is_none());
        assert!(OpaqueToken::parse(&format!("{parts}.extra")).is_none());
    }

    #[test]
    fn api_keys_round_trip_and_reject_garbage() {
        let parts = OpaqueToken::generate(WorkspaceId::generate());
        let key = parts.to_api_key();
        assert!(key.starts_with("crm_live_"));
        assert_eq!(OpaqueToken::parse_api_key(&key).as_ref(), Some(&parts));
        assert!(OpaqueToken::parse_api_key(&key.replace("crm_live_", "crm_test_")).is_none());
        assert!(OpaqueToken::parse_api_key(&format!("{key}AA")).is_none());
        assert!(OpaqueToken::parse_api_key(&key[..key.len() - 2]).is_none());
    }
}
