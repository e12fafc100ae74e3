//! Integration tests over real HTTP against real PostgreSQL; every test has its own database and
//! server. Files mirror the routes; `support/` is the harness.

mod activities;
mod auth;
mod clients;
mod contacts;
mod custom_fields;
mod deals;
mod errors;
mod health;
mod launcher;
mod openapi;
mod pipelines;
mod products;
mod search;
mod segments;
mod support;
mod teams;
mod users;
mod workspace;
