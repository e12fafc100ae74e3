//! Prometheus metrics: request counts and latencies by route pattern, method and status
//! (actix-web-prom, counted by the API server's middleware), and the database pool's usage, read
//! when scraped. They are served at `/metrics` on a listener of their own (`CRM_METRICS_BIND`),
//! not on the API's, where anyone could read every route and how busy the server is.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGauge, Opts, Registry};

use crate::db::PgPool;
use crate::db::replica::ReadReplica;

/// The registry of the server's metrics: `pool`'s, those of the read replica if there is one, and
/// the requests'.
pub fn build(
    pool: PgPool,
    replica: Option<&ReadReplica>,
) -> Result<PrometheusMetrics, Box<dyn std::error::Error + Send + Sync>> {
    let registry = Registry::new();
    registry.register(Box::new(PoolCollector::new(pool)?))?;
    for collector in replica.map(ReadReplica::collectors).unwrap_or_default() {
        registry.register(collector)?;
    }
    PrometheusMetricsBuilder::new("crm")
        .registry(registry)
        // Unknown paths would otherwise each become a label value: one series per scanner probe.
        .mask_unmatched_patterns("UNMATCHED")
        .build()
}

/// The metrics server on `listener`: `GET /metrics` and nothing else. One worker; it stops when
/// its handle says so (the API server's shutdown), not on signals of its own.
pub fn serve(metrics: &PrometheusMetrics, listener: TcpListener) -> std::io::Result<Server> {
    let registry = web::Data::new(metrics.registry.clone());
    let server = HttpServer::new(move || {
        App::new().app_data(registry.clone()).route("/metrics", web::get().to(scrape))
    })
    .listen(listener)?
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1);
    Ok(server.run())
}

async fn scrape(registry: web::Data<prometheus::Registry>) -> HttpResponse {
    let encoder = prometheus::TextEncoder::new();
    match encoder.encode_to_string(&registry.gather()) {
        Ok(text) => HttpResponse::Ok().content_type(prometheus::TEXT_FORMAT).body(text),
        Err(error) => {
            log::error!("encoding the metrics failed: {error}");
            HttpResponse::InternalServerError().finish()
        }
    }
}

struct PoolCollector {
    pool: PgPool,
    connections: IntGauge,
    idle: IntGauge,
    max: IntGauge,
}

impl PoolCollector {
    fn new(pool: PgPool) -> prometheus::Result<Self> {
        Ok(Self {
            connections: IntGauge::with_opts(Opts::new(
                "crm_db_pool_connections",
                "Open database connections",
            ))?,
            idle: IntGauge::with_opts(Opts::new(
                "crm_db_pool_idle_connections",
                "Idle database connections",
            ))?,
            max: IntGauge::with_opts(Opts::new("crm_db_pool_max_connections", "The pool's size limit"))?,
            pool,
        })
    }

    fn gauges(&self) -> [&IntGauge; 3] {
        [&self.connections, &self.idle, &self.max]
    }
}

impl Collector for PoolCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauges().into_iter().flat_map(|gauge| gauge.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let state = self.pool.state();
        self.connections.set(i64::from(state.connections));
        self.idle.set(i64::from(state.idle_connections));
        self.max.set(i64::from(self.pool.max_size()));
        self.gauges().into_iter().flat_map(|gauge| gauge.collect()).collect()
    }
}
