//! Prometheus metrics at `/metrics`: request counts and latencies by route pattern, method and
//! status (actix-web-prom), and the database pool's usage, read when scraped.

use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGauge, Opts, Registry};

use crate::db::PgPool;

pub fn build(pool: PgPool) -> Result<PrometheusMetrics, Box<dyn std::error::Error + Send + Sync>> {
    let registry = Registry::new();
    registry.register(Box::new(PoolCollector::new(pool)?))?;
    PrometheusMetricsBuilder::new("crm")
        .registry(registry)
        .endpoint("/metrics")
        // Unknown paths would otherwise each become a label value: one series per scanner probe.
        .mask_unmatched_patterns("UNMATCHED")
        .build()
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
