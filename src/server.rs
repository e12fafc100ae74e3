//! The HTTP server: middleware, error rendering, the API, Swagger UI and metrics, on one listener.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, Logger, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use actix_web_prom::PrometheusMetrics;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::documented_routes::DocumentedRoutes;
use crate::error::{self, ApiError};
use crate::middleware::{
    check_conflict_codes, mask_personal_data, reject_nul, reject_unknown_query_parameters, request_id,
    security_headers,
};
use crate::state::AppState;
use crate::{openapi, routes};

/// Builds the server on `listener`; the caller awaits (or spawns) it. actix stops it gracefully
/// on SIGINT/SIGTERM unless `handle_signals` is false (tests run many servers in one process).
pub fn build(
    state: AppState,
    metrics: PrometheusMetrics,
    listener: TcpListener,
    workers: usize,
    handle_signals: bool,
) -> std::io::Result<Server> {
    let derived = openapi::derived_document();
    let documented_routes = web::Data::new(DocumentedRoutes::from_document(&derived));
    // Kept as its JSON text (1.6 MB), not as the tree it is made from, which held tens of MB for
    // the life of the process and was encoded again at every request for it.
    let document = web::Data::new(ApiDocument(web::Bytes::from(
        serde_json::to_vec(&openapi::refined(derived)).map_err(std::io::Error::other)?,
    )));
    let body_limit = state.body_limit;
    let cors_origins = state.cors_origins.clone();
    // Registered apart too, so that the principal extractor needs no more than the keys.
    let jwt_keys = web::Data::from(state.jwt.clone());
    let state = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(jwt_keys.clone())
            .app_data(documented_routes.clone())
            .app_data(web::JsonConfig::default().limit(body_limit).error_handler(error::json_error))
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .app_data(web::PayloadConfig::default().limit(body_limit))
            // Added last is outermost: the logger sees the request id, metrics see final statuses.
            // The refusals at the edge answer inside the CORS layer, so that a page on an allowed
            // origin can read them too; that layer is inside the error handler, so that a refused
            // preflight is a problem as well.
            .wrap(from_fn(mask_personal_data))
            .wrap(from_fn(check_conflict_codes))
            .wrap(from_fn(crate::idempotency::idempotent_writes))
            .wrap(from_fn(crate::auth::rate_limit::add_rate_limit_headers))
            .wrap(from_fn(reject_unknown_query_parameters))
            .wrap(from_fn(reject_nul))
            .wrap(cors_origins.middleware())
            .wrap(ErrorHandlers::new().default_handler(error::problem_for_any_error))
            .wrap(from_fn(security_headers))
            .wrap(metrics.clone())
            .wrap(from_fn(request_id))
            .wrap(
                Logger::new(r#"%a "%{request}xo" %s %b %Dms request_id=%{x-request-id}o"#)
                    .custom_response_replace("request", |response| access_line(response.request())),
            )
            // Before the routes: the /api/v1 scope would otherwise claim /api/v1/openapi.json.
            .route(API_DOCUMENT_PATH, web::get().to(api_document))
            .app_data(document.clone())
            .service(SwaggerUi::new("/docs/{_:.*}").config(SwaggerConfig::new([API_DOCUMENT_PATH])))
            .route("/docs", web::get().to(redirect_to_docs))
            .into_utoipa_app()
            .configure(routes::configure)
            .into_app()
            .default_service(web::to(unknown_route))
    })
    .listen(listener)?
    .workers(workers)
    .shutdown_timeout(10);
    if !handle_signals {
        server = server.disable_signals();
    }
    Ok(server.run())
}

/// The request as the access log shows it: the method, the route's pattern and the names of the
/// query's parameters, never their values or the path's ids. Lookups put emails, phones and tax ids
/// in the query, cursors carry names, and a refused `?access_token=` would be a live credential:
/// none of that may reach a log that lives longer than the data it would copy.
fn access_line(request: &HttpRequest) -> String {
    let route = request.match_pattern().unwrap_or_else(|| "(no route)".to_string());
    let names: Vec<&str> = request
        .query_string()
        .split('&')
        .filter_map(|pair| pair.split('=').next())
        .filter(|name| !name.is_empty())
        .map(|name| {
            if name.len() <= 40 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                name
            } else {
                "?"
            }
        })
        .collect();
    let query = if names.is_empty() { String::new() } else { format!("?{}", names.join("&")) };
    format!("{} {route}{query}", request.method())
}

/// Where the OpenAPI document is served, and Swagger UI reads it from.
const API_DOCUMENT_PATH: &str = "/api/v1/openapi.json";

/// The OpenAPI document as served: its JSON text.
struct ApiDocument(web::Bytes);

async fn api_document(document: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok().content_type(actix_web::http::header::ContentType::json()).body(document.0.clone())
}

/// Swagger UI lives at `/docs/`; its relative asset paths need the slash.
async fn redirect_to_docs() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((actix_web::http::header::LOCATION, "/docs/")).finish()
}

/// No handler took the request: a 405 naming the allowed methods when the path exists, else 404.
async fn unknown_route(
    request: HttpRequest,
    routes: web::Data<DocumentedRoutes>,
) -> Result<HttpResponse, ApiError> {
    match routes.allowed_methods(request.path()) {
        Some(methods) => Err(ApiError::MethodNotAllowed { allowed: methods.to_string() }),
        None => Err(ApiError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn the_access_log_names_the_route_and_the_parameters_but_never_their_values() {
        let lookup = TestRequest::get()
            .uri("/api/v1/clients?email=anna%40example.com&phone=%2B79123456789&access_token=eyJ.x.y&q=%E2%80%8B")
            .to_http_request();
        assert_eq!(access_line(&lookup), "GET (no route)?email&phone&access_token&q");
        let odd = TestRequest::get().uri("/api/v1/clients?a%40b.c=1&&limit=5").to_http_request();
        assert_eq!(access_line(&odd), "GET (no route)??&limit");
    }
}
