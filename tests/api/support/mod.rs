//! The test harness: one throwaway PostgreSQL cluster per run (the server's own launcher) unless
//! DATABASE_URL names a server, one migrated template database per run, and for every test its
//! own database copied from the template and its own server on a free loopback port.

pub mod cluster;
pub mod http;
pub mod paging;
pub mod process;
pub mod receiver;

pub use http::TestApp;
