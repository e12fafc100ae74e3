//! Middleware of every request: its id, the refusal of NUL characters in the URL and of unknown
//! query parameters, the security headers of every response, the masking of personal data for
//! the roles that see it masked, and (in debug builds) the check of a conflict's code against the
//! operation's documentation.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};

use crate::auth::DisclosureSlot;
use crate::documented_routes::DocumentedRoutes;
use crate::domain::personal_data::{self, Disclosure};
use crate::error::{ApiError, Problem, ProblemCode, conflicts_of};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// What Swagger UI at `/docs` may load: its own files, the inline styles and data-URI icons it
/// draws with, and nothing else; and no other site may frame it (clickjacking).
const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The id of the request being handled.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':'))
}

/// Takes the caller's `X-Request-Id` when it is sane, otherwise generates one; puts it in the
/// request's extensions (for logs and change events) and in the response header.
pub async fn request_id(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_sane(id))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.call(request).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

/// PostgreSQL can't store a NUL character in text: refuse one in the path or query string at the
/// edge (it can only arrive percent-encoded), with a 400 rather than a database error.
pub async fn reject_nul(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let uri = request.uri();
    let has_nul = |text: &str| text.as_bytes().windows(3).any(|window| window.eq_ignore_ascii_case(b"%00"));
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return Ok(refuse(
            request,
            ApiError::bad_request(ProblemCode::InvalidText, "the URL may not contain NUL characters"),
        ));
    }
    next.call(request).await.map(ServiceResponse::map_into_left_body)
}

/// Answers `request` with `refusal` from inside a middleware: as a response, not an `Err`, which
/// would be rendered past the layers outside it (the security headers, CORS).
fn refuse<B>(request: ServiceRequest, refusal: ApiError) -> ServiceResponse<EitherBody<B>> {
    request.into_response(refusal.error_response()).map_into_right_body()
}

/// `a`, `b`: names as a refusal lists them.
fn quoted(names: &[impl AsRef<str>]) -> String {
    names.iter().map(|name| format!("`{}`", name.as_ref())).collect::<Vec<_>>().join(", ")
}

/// A query parameter the operation doesn't take is a 400 naming it, with the ones it does take: a
/// misspelt filter (`?updated_sinse=`) would otherwise be ignored and the answer hold everything.
/// The operations and their parameters are the OpenAPI document's ([`DocumentedRoutes`]); paths it
/// doesn't describe (the docs, a 404, a 405) are left to answer for themselves.
pub async fn reject_unknown_query_parameters(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    // Most requests have no query: they need no route lookup.
    let known = Some(request.query_string()).filter(|query| !query.is_empty()).and_then(|_| {
        request
            .app_data::<web::Data<DocumentedRoutes>>()
            .and_then(|routes| routes.query_parameters(request.method(), request.path()))
    });
    if let Some(known) = known {
        let given = web::Query::<Vec<(String, String)>>::from_query(request.query_string())
            .map(|pairs| pairs.into_inner())
            .unwrap_or_default();
        let mut unknown: Vec<&str> = given
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| !known.iter().any(|k| k == name))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        if !unknown.is_empty() {
            let takes = if known.is_empty() { "none".to_string() } else { quoted(known) };
            let plural = if unknown.len() == 1 { "" } else { "s" };
            let refusal = ApiError::bad_request(
                ProblemCode::UnknownQueryParameter,
                format!("unknown query parameter{plural} {}: it takes {takes}", quoted(&unknown)),
            );
            return Ok(refuse(request, refusal));
        }
    }
    next.call(request).await.map(ServiceResponse::map_into_left_body)
}

/// In debug builds (the tests, and the server the fuzzer runs against), a 409 whose code its
/// operation doesn't list (`error::conflicts_of`) is a bug: it is answered as a 500 that names it,
/// so that a test or the fuzzer fails on it. Release builds pass every response through.
pub async fn check_conflict_codes(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if !cfg!(debug_assertions) {
        return next.call(request).await.map(ServiceResponse::map_into_left_body);
    }
    let response = next.call(request).await?;
    if response.status() != StatusCode::CONFLICT {
        return Ok(response.map_into_left_body());
    }
    // Only a 409 is looked up: the routes are matched one by one.
    let code = response.response().extensions().get::<ProblemCode>().copied();
    let served = response.request();
    let operation = served
        .app_data::<web::Data<DocumentedRoutes>>()
        .and_then(|routes| routes.operation_id(served.method(), served.path()))
        .map(str::to_string);
    match (operation, code) {
        (Some(operation), Some(code)) if !conflicts_of(&operation).contains(&code) => {
            let detail =
                format!("{operation} answered 409 `{code}`, which error::conflicts doesn't list for it");
            log::error!("{detail}");
            let (request, _) = response.into_parts();
            let problem = Problem::new(StatusCode::INTERNAL_SERVER_ERROR, ProblemCode::InternalError, detail);
            Ok(ServiceResponse::new(request, problem.into_response()).map_into_right_body())
        }
        _ => Ok(response.map_into_left_body()),
    }
}

/// The header that tells a client the personal data in a response is masked.
pub const PERSONAL_DATA_HEADER: HeaderName = HeaderName::from_static("x-personal-data");

/// Masks the personal data in a JSON answer to a caller whose role sees it masked (see
/// `domain::personal_data`), and says so with `X-Personal-Data: masked`. Done here, on the whole
/// answer, so that no path that returns a client or a contact can forget it; callers who see
/// personal data in full pay nothing. CSV exports mask their rows themselves, as they stream.
pub async fn mask_personal_data(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let response = next.call(request).await?;
    let disclosure = response.request().extensions().get::<DisclosureSlot>().and_then(DisclosureSlot::get);
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if disclosure != Some(Disclosure::Masked) || !json {
        return Ok(response.map_into_left_body());
    }
    let (request, response) = response.into_parts();
    let (mut head, body) = response.into_parts();
    let failed = |what: &str| actix_web::error::ErrorInternalServerError(format!("masking failed: {what}"));
    let bytes = actix_web::body::to_bytes(body).await.map_err(|_| failed("the body could not be read"))?;
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| failed("not JSON"))?;
    personal_data::mask(&mut value);
    let body = serde_json::to_vec(&value).map_err(|_| failed("not serialisable"))?;
    head.headers_mut().insert(PERSONAL_DATA_HEADER, HeaderValue::from_static("masked"));
    Ok(ServiceResponse::new(request, head.set_body(body).map_into_boxed_body()).map_into_right_body())
}

/// `nosniff` on everything; `no-store` on every API answer (they carry tokens, personal data or
/// exports, and a shared cache or the browser's disk must keep none of them) unless a handler
/// chose otherwise; framing and a content security policy for the docs.
pub async fn security_headers(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let (is_api, is_docs) = (request.path().starts_with("/api/"), request.path().starts_with("/docs"));
    let mut response = next.call(request).await?;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if is_api && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if is_docs {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers
            .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CONTENT_SECURITY_POLICY));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::is_sane;

    #[test]
    fn accepts_ordinary_ids_and_refuses_log_injection() {
        assert!(is_sane("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
        assert!(is_sane("trace:abc.123_x"));
        assert!(!is_sane(""));
        assert!(!is_sane("a b"));
        assert!(!is_sane("line\nbreak"));
        assert!(!is_sane(&"x".repeat(129)));
    }
}
