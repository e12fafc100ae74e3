//! Authenticating a request by API key: the key's row says whether its secret (or, for a while
//! after a rotation, its previous one) matches, whether it has expired or been revoked, and from
//! which networks it may be used; the OpenAPI document says which scope the operation needs
//! (`auth::scopes`).

use std::borrow::Cow;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use diesel::result::OptionalExtension;
use ipnet::IpNet;

use crate::auth::scopes::{Needed, Scope};
use crate::auth::tokens::OpaqueToken;
use crate::db::models::api_key::{ApiKey, KeyWithPrincipal};
use crate::error::ApiError;

const INVALID_KEY: &str = "the API key is invalid, expired or revoked";

/// The key that `token` names, if its secret matches and it may be used now from `from`; its use
/// is written down.
pub fn authenticate(
    conn: &mut PgConnection,
    token: &OpaqueToken,
    from: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<KeyWithPrincipal, ApiError> {
    let invalid = || ApiError::Unauthorized(Cow::Borrowed(INVALID_KEY));
    let found = ApiKey::find(conn, token.workspace, crate::ids::UserId(token.id)).optional()?;
    let Some(found) = found else { return Err(invalid()) };
    let key = &found.key;
    let previous_still_works = key.previous_secret_until.is_some_and(|until| now < until);
    let matches = token.matches(&key.secret_hash)
        || (previous_still_works
            && key.previous_secret_hash.as_deref().is_some_and(|hash| token.matches(hash)));
    if !matches || key.revoked_at.is_some() || !found.active || key.expires_at.is_some_and(|at| at <= now) {
        return Err(invalid());
    }
    if !may_be_used_from(&key.allowed_networks, from) {
        let address = from.map_or_else(|| "an unknown address".to_string(), |address| address.to_string());
        return Err(ApiError::Forbidden(Cow::Owned(format!("this API key may not be used from {address}"))));
    }
    key.note_use(conn, from.map(|address| address.to_string()).as_deref(), now)?;
    Ok(found)
}

/// Refuses an operation that needs a scope the key doesn't hold, and anything that is no
/// operation of the document: a key reaches only what its scopes name.
pub fn check_scope(held: &[Scope], needed: Option<Needed>) -> Result<(), ApiError> {
    match needed {
        Some(Needed::AnyKey) => Ok(()),
        Some(Needed::Scope(needed)) if held.iter().any(|scope| scope.grants(needed)) => Ok(()),
        Some(Needed::Scope(needed)) => Err(ApiError::InsufficientScope { needed: needed.to_string() }),
        None => Err(ApiError::Forbidden(Cow::Borrowed("an API key may call only the operations of the API"))),
    }
}

/// Whether `from` is in one of `networks` (CIDR, or single addresses); anywhere when none are set.
pub fn may_be_used_from(networks: &[String], from: Option<IpAddr>) -> bool {
    if networks.is_empty() {
        return true;
    }
    let Some(from) = from.map(canonical) else { return false };
    networks.iter().filter_map(|network| parse_network(network)).any(|network| network.contains(&from))
}

/// A network as a key's allow-list takes it: `10.0.0.0/8`, `2001:db8::/32`, or one address.
pub fn parse_network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// An IPv4 client reaching a dual-stack listener shows as `::ffff:a.b.c.d`: compared as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allow_list_admits_its_networks_only() {
        let networks = vec!["10.0.0.0/8".to_string(), "192.0.2.7".to_string(), "2001:db8::/32".to_string()];
        let admitted = |address: &str| may_be_used_from(&networks, address.parse().ok());
        assert!(admitted("10.1.2.3"));
        assert!(admitted("192.0.2.7"));
        assert!(admitted("::ffff:10.0.0.1"));
        assert!(admitted("2001:db8::1"));
        assert!(!admitted("192.0.2.8"));
        assert!(!admitted("127.0.0.1"));
        assert!(may_be_used_from(&[], None));
        assert!(!may_be_used_from(&networks, None));
        assert!(parse_network("10.0.0.0/33").is_none());
    }
}
