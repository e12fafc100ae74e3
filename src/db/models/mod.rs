//! Rows and their queries. Every query on a tenant table takes the workspace as a parameter, so
//! none can forget it.

pub mod activity;
pub mod activity_cell;
pub mod activity_report;
pub mod api_key;
mod buyer_union;
pub mod change_event;
pub mod client;
pub mod client_cell;
pub mod client_duplicates;
pub mod client_dynamics;
pub mod client_share;
pub mod client_stats;
pub mod contact;
pub mod custom_field;
pub mod deal;
pub mod external_ref;
pub mod forecast;
pub mod funnel;
pub mod idempotency;
pub mod import;
pub mod pipeline;
pub mod product;
pub mod refresh_token;
pub mod report_cells;
pub mod sales_cell;
pub mod sales_line;
pub mod segment;
pub mod soft_delete;
pub mod target;
pub mod team;
pub mod user;
pub mod webhook;
pub mod workspace;

pub use activity::Activity;
pub use change_event::NewChangeEvent;
pub use client::Client;
pub use contact::Contact;
pub use deal::Deal;
pub use pipeline::{Pipeline, Stage};
pub use product::Product;
pub use refresh_token::RefreshToken;
pub use soft_delete::SoftDelete;
pub use team::{NewTeam, Team, TeamChanges};
pub use user::{NewUser, User, UserChanges};
pub use workspace::{NewWorkspace, Workspace, WorkspaceChanges};
