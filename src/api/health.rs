//! Liveness and readiness probes for load balancers and orchestrators.

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is up and serving HTTP.
///
/// Answers 200 while the process serves HTTP, whatever the database does: for a restart policy, not for
/// routing traffic.
#[utoipa::path(
    tag = "health",
    operation_id = "get_liveness",
    responses((status = 200, description = "Alive", body = HealthResponse))
)]
#[get("/health/live")]
pub async fn live() -> web::Json<HealthResponse> {
    web::Json(HealthResponse { status: "ok" })
}

/// The server can reach its database and is ready for traffic.
///
/// Answers 200 when a database connection answers, 503 otherwise: a load balancer sends traffic only while
/// this is 200.
#[utoipa::path(
    tag = "health",
    operation_id = "get_readiness",
    responses(
        (status = 200, description = "Ready", body = HealthResponse),
        (status = 503, description = "The database can't be reached", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<web::Json<HealthResponse>, ApiError> {
    db::run(&state.pool, |conn| {
        db::ping(conn)
            .map_err(|error| ApiError::DatabaseUnavailable(format!("the database is not answering: {error}")))
    })
    .await?;
    Ok(web::Json(HealthResponse { status: "ok" }))
}
