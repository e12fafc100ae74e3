//! Safe retries. A POST, PATCH or DELETE sent with an `Idempotency-Key` header runs once per
//! workspace, user and key: its answer (status, the headers a client acts on, body) is stored for
//! 24 hours, and a retry with the same key and the same request gets that answer again, marked
//! `Idempotent-Replayed: true`, without running. The same key on a different request is a 422
//! `idempotency_key_reused`; a retry while the first is still running is a 409
//! `idempotency_in_progress`. The keys live in the database (`db::models::idempotency`), so a
//! retry that another API process serves finds them. An answer of 500 or above is not stored: the
//! write may not have happened, and the retry runs anew.

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::auth::authenticate;
use crate::db::models::idempotency::{Claim, IdempotencyKey, StoredAnswer};
use crate::documented_routes::DocumentedRoutes;
use crate::error::{ApiError, ProblemCode};
use crate::state::AppState;

pub const IDEMPOTENCY_KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The headers of an answer that a replay gives again: what a client acts on.
const REPLAYED_HEADERS: &[HeaderName] = &[header::CONTENT_TYPE, header::LOCATION, header::ETAG];

/// Runs a keyed write once; see the module's comment.
pub async fn idempotent_writes(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let writes = matches!(*request.method(), Method::POST | Method::PATCH | Method::DELETE);
    let Some(key) = request.headers().get(IDEMPOTENCY_KEY_HEADER).filter(|_| writes).cloned() else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    // Only the operations the document gives the header: a request for no operation gets its 404
    // or 405 from routing, whatever its key, and a login's answer (tokens) is never stored.
    let documented = request
        .app_data::<web::Data<DocumentedRoutes>>()
        .is_some_and(|routes| routes.takes_idempotency_key(request.method(), request.path()));
    if !documented {
        return Ok(next.call(request).await?.map_into_left_body());
    }
    // Only an authenticated caller's writes are keyed: anyone else's get their 401 from the handler.
    let Ok(principal) = authenticate(request.request()).await else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    let (workspace, user) = (principal.workspace_id, principal.user_id);
    let key = match key.to_str().ok().filter(|key| is_valid_key(key)) {
        Some(key) => key.to_string(),
        None => {
            let refused = ApiError::bad_request(
                ProblemCode::InvalidIdempotencyKey,
                "Idempotency-Key must be 1 to 255 visible ASCII characters, such as a UUID",
            );
            return Ok(request.error_response(refused).map_into_right_body());
        }
    };
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(request).await?.map_into_left_body());
    };
    // Read within the limit the handler reads with: a spreadsheet upload's is larger.
    let limit = if request.path() == crate::api::imports::UPLOAD_PATH {
        state.import_limit
    } else {
        state.body_limit
    };
    let body = match request.extract::<web::Payload>().await?.to_bytes_limited(limit).await {
        Ok(read) => read?,
        Err(_) => {
            let refused = ApiError::PayloadTooLarge { limit };
            return Ok(request.error_response(refused).map_into_right_body());
        }
    };
    request.set_payload(actix_web::dev::Payload::from(body.clone()));
    let fingerprint = fingerprint(&request, &body);
    let key = IdempotencyKey { workspace, user, key };
    let claimed = key.clone();
    let claim = crate::db::run(&state.pool, move |conn| {
        Ok::<_, ApiError>(claimed.claim(conn, &fingerprint, Utc::now())?)
    })
    .await;
    match claim {
        Err(error) => Ok(request.error_response(error).map_into_right_body()),
        Ok(Claim::Reused) => Ok(request.error_response(ApiError::IdempotencyKeyReused).map_into_right_body()),
        Ok(Claim::Running) => {
            let running = ApiError::conflict(
                ProblemCode::IdempotencyInProgress,
                "a request with this Idempotency-Key is still running: retry in a moment",
            );
            Ok(request.error_response(running).map_into_right_body())
        }
        Ok(Claim::Answered(answer)) => {
            let (request, _) = request.into_parts();
            Ok(ServiceResponse::new(request, replay(&answer)).map_into_right_body())
        }
        Ok(Claim::Claimed) => {
            run_and_store(request, next, state, key).await.map(ServiceResponse::map_into_right_body)
        }
    }
}

/// Runs the request that claimed `key` and stores its answer.
async fn run_and_store(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    state: web::Data<AppState>,
    key: IdempotencyKey,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let outcome = next.call(request).await;
    let response = match outcome {
        Ok(response) => response,
        Err(error) => {
            let _ = crate::db::run(&state.pool, move |conn| Ok::<_, ApiError>(key.release(conn)?)).await;
            return Err(error);
        }
    };
    let (request, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let body = actix_web::body::to_bytes(body)
        .await
        .map_err(|_| actix_web::error::ErrorInternalServerError("the answer could not be read"))?;
    let status = head.status();
    let stored = StoredAnswer {
        status: status.as_u16(),
        headers: REPLAYED_HEADERS
            .iter()
            .filter_map(|name| {
                let value = head.headers().get(name)?.to_str().ok()?;
                Some((name.as_str().to_string(), value.to_string()))
            })
            .collect(),
        body: body.to_vec(),
    };
    let kept = crate::db::run(&state.pool, move |conn| {
        if status.is_server_error() { key.release(conn) } else { key.answer(conn, &stored) }
            .map_err(ApiError::from)
    })
    .await;
    if let Err(error) = kept {
        // The write happened; only its replay is lost. The answer still goes out.
        log::warn!("an idempotent answer could not be stored: {error}");
    }
    let response = head.set_body(body).map_into_boxed_body();
    Ok(ServiceResponse::new(request, response))
}

/// A stored answer, given again.
fn replay(answer: &StoredAnswer) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK));
    for (name, value) in &answer.headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    response.insert_header((REPLAYED_HEADER, HeaderValue::from_static("true")));
    response.body(answer.body.clone())
}

/// What makes two requests the same: method, path and query, and body.
fn fingerprint(request: &ServiceRequest, body: &[u8]) -> Vec<u8> {
    let mut digest = Sha256::new();
    digest.update(request.method().as_str());
    digest.update(b" ");
    digest.update(request.uri().path_and_query().map(|path| path.as_str()).unwrap_or_default());
    digest.update(b"\n");
    digest.update(body);
    digest.finalize().to_vec()
}

/// 1 to 255 visible ASCII characters: a UUID, a ULID, or an integrator's own request id.
fn is_valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|byte| byte.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::is_valid_key;

    #[test]
    fn a_key_is_one_to_255_visible_ascii_characters() {
        assert!(is_valid_key("01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e00"));
        assert!(is_valid_key("order:1C-000123"));
        for key in ["", "with space", "ключ", &"k".repeat(256)] {
            assert!(!is_valid_key(key), "{key:?}");
        }
    }
}
