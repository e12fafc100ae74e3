//! Integration tests over real HTTP against real PostgreSQL; every test has its own database and
//! server. Files mirror the routes; `support/` is the harness.
//!
//! The rules of this suite, so that a test fails when what it names breaks:
//!
//! - A test asserts what a user relies on: the status and the body's values, not just the status.
//!   Where a value is known, compare it (`timestamp` for times, never RFC 3339 text); where the
//!   server takes it from the clock, bound it by the moments before and after the request
//!   (`assert_taken_between`).
//! - A refusal (403, 404, 409, 412, 422) re-reads what it tried to change and finds it as it was
//!   (`TestApp::assert_unchanged`), or counts what it tried to add.
//! - A test of "exactly once", "atomic" or "no waiting" forces the overlap or the failure it is
//!   about: a transaction held open while the other side runs (`TestApp::wait_for_lock_waiters`
//!   says when requests are really waiting), a failure that happens inside the transaction
//!   (a value only the database can refuse), never requests that merely happen to run together.
//! - No fixed sleeps: wait for a condition, with a deadline. Polling every few milliseconds
//!   until it holds is fine; sleeping a guessed time and hoping is not.
//! - Time comes from one clock, the machine's: the server, PostgreSQL and the test share it.
//!   Nothing depends on the day it runs (no "today" that turns at midnight: derive dates from
//!   the records the test made), and states from the past are made with SQL on the test's own
//!   database (`TestApp::sql`).
//! - When a test is new or changed, break the code it guards once, locally, and watch it fail.

mod activities;
mod api_keys;
mod auth;
mod batch;
mod call_lists;
mod changes;
mod clients;
mod consents;
mod contacts;
mod cors;
mod custom_fields;
mod deals;
mod duplicates;
mod errors;
mod external_refs;
mod faults;
mod health;
mod idempotency;
mod imports;
mod launcher;
mod lifecycle;
mod merge;
mod openapi;
mod pipelines;
mod processes;
mod products;
mod replica;
mod reports;
mod schema;
mod search;
mod security;
mod segments;
mod stats;
mod support;
mod targets;
mod teams;
mod tenancy;
mod users;
mod versions;
mod visibility;
mod webhooks;
mod workspace;
