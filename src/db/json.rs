//! jsonb columns with a known shape, read into and written from their Rust type directly.
//!
//! Diesel reads a jsonb column into a `serde_json::Value`: a map with its own key strings for every
//! object, which the API then turned into its type and dropped. For the columns whose shape we own
//! (the emails, phones, messengers, address and consent of clients and contacts), that middle step
//! was most of what decoding JSON cost on a list page.

use std::io::Write;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Jsonb;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// jsonb's binary format: a version byte, then the JSON text.
const JSONB_VERSION: u8 = 1;

/// A jsonb column holding a `T`; as JSON, just the `T`.
#[derive(Debug, Clone, Default, PartialEq, AsExpression, FromSqlRow, Serialize)]
#[diesel(sql_type = Jsonb)]
#[serde(transparent)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + Default + std::fmt::Debug> FromSql<Jsonb, Pg> for Json<T> {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        match value.as_bytes().split_first() {
            // What we wrote has this shape; should a stored value not (edited by hand), the record
            // still reads, with the field empty, as it did through `serde_json::Value`.
            Some((&JSONB_VERSION, text)) => Ok(Json(serde_json::from_slice(text).unwrap_or_default())),
            _ => Err("unsupported jsonb encoding version".into()),
        }
    }
}

impl<T: Serialize + std::fmt::Debug> ToSql<Jsonb, Pg> for Json<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&[JSONB_VERSION])?;
        serde_json::to_writer(out, &self.0)?;
        Ok(IsNull::No)
    }
}
