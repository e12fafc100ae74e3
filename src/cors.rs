//! Cross-origin access (CORS) for browser code served from other origins: which origins may call
//! the API (`CRM_CORS_ORIGINS`), what they may send, and which response headers their code may
//! read. None by default: a browser on another origin gets no `Access-Control-*` headers and
//! reads nothing, while clients that are not browsers never look at them.

use actix_cors::Cors;
use actix_web::http::{Method, Uri, header};

/// How long a browser may reuse a preflight's answer, in seconds (Chromium caps it at 2 hours).
const PREFLIGHT_MAX_AGE: usize = 2 * 60 * 60;

/// What browser code may send besides the CORS-safelisted headers.
const REQUEST_HEADERS: [header::HeaderName; 5] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::IF_MATCH,
    crate::middleware::REQUEST_ID_HEADER,
];

/// Response headers browser code may read besides the safelisted ones: versions for `If-Match`,
/// where a created record is, when to retry, the request id to quote in a support ticket, rate
/// limits (both the current draft's and the earlier names), and an export's file name.
const EXPOSED_HEADERS: [&str; 11] = [
    "etag",
    "location",
    "retry-after",
    "x-request-id",
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "content-disposition",
    "allow",
];

/// The origins allowed to call the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AllowedOrigins {
    /// These exact origins (`https://app.example.com`); none when empty.
    #[default]
    None,
    Listed(Vec<String>),
    /// `*`: any origin. Safe as far as CORS goes because the API authenticates with bearer tokens
    /// a page must hold itself, never with cookies a browser would attach on its own.
    Any,
}

impl AllowedOrigins {
    /// Reads `CRM_CORS_ORIGINS`: origins separated by commas or spaces, or `*`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let origins: Vec<&str> = value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|origin| !origin.is_empty())
            .collect();
        if origins == ["*"] {
            return Ok(Self::Any);
        }
        if origins.is_empty() {
            return Ok(Self::None);
        }
        origins
            .iter()
            .map(|origin| check_origin(origin).map(|()| (*origin).to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self::Listed)
    }

    /// The middleware answering preflights and marking responses for these origins. Requests
    /// from other origins pass through unmarked: the browser then withholds the answer.
    pub fn middleware(&self) -> Cors {
        let cors = Cors::default()
            .allowed_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allowed_headers(REQUEST_HEADERS)
            .expose_headers(EXPOSED_HEADERS)
            .max_age(PREFLIGHT_MAX_AGE)
            .block_on_origin_mismatch(false);
        match self {
            Self::None => cors,
            Self::Any => cors.allow_any_origin().send_wildcard(),
            Self::Listed(origins) => origins.iter().fold(cors, |cors, origin| cors.allowed_origin(origin)),
        }
    }
}

/// An origin is a scheme, a host and maybe a port, as a browser sends it in `Origin`: no path,
/// not even a trailing slash, which would never match.
fn check_origin(origin: &str) -> Result<(), String> {
    let uri: Uri =
        origin.parse().map_err(|_| format!("{origin:?} is not an origin like https://app.example.com"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let bare = uri.path_and_query().is_none_or(|rest| rest.as_str() == "/") && !origin.ends_with('/');
    if !scheme_ok || uri.host().is_none() || !bare || origin.contains('@') {
        return Err(format!(
            "{origin:?} is not an origin: write the scheme and host (and port), like https://app.example.com, \
             with no path or trailing slash"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_listed_by_comma_or_space_or_any_with_a_star() {
        assert_eq!(AllowedOrigins::parse(""), Ok(AllowedOrigins::None));
        assert_eq!(AllowedOrigins::parse("*"), Ok(AllowedOrigins::Any));
        assert_eq!(
            AllowedOrigins::parse("https://app.example.com, http://localhost:5173"),
            Ok(AllowedOrigins::Listed(vec![
                "https://app.example.com".to_string(),
                "http://localhost:5173".to_string()
            ]))
        );
    }

    #[test]
    fn what_a_browser_would_never_send_as_an_origin_is_refused() {
        for wrong in [
            "https://app.example.com/",
            "https://app.example.com/app",
            "app.example.com",
            "ftp://files.example.com",
            "https://user@app.example.com",
            "https://app.example.com?x=1",
            "*, https://app.example.com",
        ] {
            assert!(AllowedOrigins::parse(wrong).is_err(), "{wrong} was accepted");
        }
    }
}
