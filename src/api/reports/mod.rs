//! `/reports`: what the owner reads off the base rather than out of it. Each report answers JSON,
//! or CSV when the caller asks for `text/csv`; its money is exact decimal strings, its days are the
//! workspace's, and its figures count only what the caller sees. docs/reports.md defines every
//! figure.

pub mod sales;

use std::collections::HashMap;

use actix_web::HttpRequest;
use actix_web::http::header::{self, Header};
use chrono::NaiveDate;
use diesel::prelude::*;

use crate::domain::{FieldCode, Violation};

/// Whether the caller would rather have CSV than JSON: `text/csv` ranks above `application/json`
/// in its `Accept`.
pub fn wants_csv(request: &HttpRequest) -> bool {
    let Ok(accept) = header::Accept::parse(request) else { return false };
    accept
        .ranked()
        .into_iter()
        .find(|media| {
            (media.type_() == "text" && media.subtype() == "csv")
                || (media.type_() == "application" && media.subtype() == "json")
        })
        .is_some_and(|media| media.subtype() == "csv")
}

/// The earliest and latest days a report may name: PostgreSQL's dates reach further, but no sale
/// of a living company does.
const FIRST_DAY: (i32, u32, u32) = (1900, 1, 1);
const LAST_DAY: (i32, u32, u32) = (9999, 12, 31);

/// `date` if within the years a report may name, else a 422 naming `field`.
pub fn report_day(field: &str, date: NaiveDate) -> Result<NaiveDate, Violation> {
    let day = |(year, month, day): (i32, u32, u32)| NaiveDate::from_ymd_opt(year, month, day);
    if day(FIRST_DAY).is_some_and(|first| date < first) || day(LAST_DAY).is_some_and(|last| date > last) {
        return Err(Violation::new(field, FieldCode::Range, "must be between 1900-01-01 and 9999-12-31"));
    }
    Ok(date)
}

/// The names of the records whose ids are `keys` (users, teams, products or pipelines), by id.
pub fn names_of<T>(
    conn: &mut PgConnection,
    keys: &[String],
    load: impl FnOnce(&mut PgConnection, Vec<uuid::Uuid>) -> QueryResult<Vec<(T, String)>>,
) -> QueryResult<HashMap<String, String>>
where
    T: std::fmt::Display,
{
    let ids: Vec<uuid::Uuid> = keys.iter().filter_map(|key| key.parse().ok()).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(load(conn, ids)?.into_iter().map(|(id, name)| (id.to_string(), name)).collect())
}
