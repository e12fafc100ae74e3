//! Lists in the order records last changed: what a sync that polls pages through with
//! `updated_since` and `sort=updated_at`, on resources whose own order is another (a name, an id).

use chrono::{DateTime, Utc};

/// Which records of a list by change time, and in which direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeWindow {
    /// Only records changed at or after this time.
    pub since: Option<DateTime<Utc>>,
    pub oldest_first: bool,
    /// The (updated_at, id) after which the page starts.
    pub after: Option<(DateTime<Utc>, uuid::Uuid)>,
}

/// A list's order: its own, after a key of its own; or by change time.
#[derive(Debug, Clone)]
pub enum ListOrder<K> {
    Own(Option<K>),
    Changed(ChangeWindow),
}

/// Narrows a boxed query of one table to a [`ChangeWindow`] and orders it by (updated_at, id), in
/// the window's direction. The table needs `updated_at` and `id` columns.
macro_rules! in_change_order {
    ($query:expr, $table:ident, $window:expr) => {{
        let window: &$crate::db::change_order::ChangeWindow = $window;
        let mut query = $query;
        if let Some(since) = window.since {
            query = query.filter($table::updated_at.ge(since));
        }
        if let Some((time, id)) = window.after {
            query = query.filter($crate::db::fragment::SqlFragment::keyset_after(
                "updated_at",
                !window.oldest_first,
                time,
                id,
            ));
        }
        if window.oldest_first {
            query.order(($table::updated_at.asc(), $table::id.asc()))
        } else {
            query.order(($table::updated_at.desc(), $table::id.desc()))
        }
    }};
}
pub(crate) use in_change_order;
