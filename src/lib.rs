//! The CRM backend as a library: `main.rs`, the integration tests and benchmarks share it.
// The OpenAPI examples written with `json!` (a webhook delivery holds a whole client) nest deeper
// than the macro's default recursion allows.
#![recursion_limit = "256"]

pub mod allocator;
pub mod api;
pub mod auth;
pub mod background;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod cors;
pub mod db;
pub mod documented_routes;
pub mod domain;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod import_worker;
pub mod launch;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod reminders;
pub mod report_cells_worker;
pub mod routes;
pub mod seed;
pub mod server;
pub mod state;
pub mod stats_worker;
pub mod webhooks;
