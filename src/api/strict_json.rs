//! Reading a request body into a JSON value with every object's keys checked for repeats.
//! serde_json keeps the last of duplicate keys, so `{"amount": "1", "amount": "1000000"}` would
//! store what a reviewer of the request, or a proxy that reads the first, never saw.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{ApiError, ProblemCode};

/// Parses `body`: a 400 `malformed_json` when it isn't JSON, a 400 `duplicate_key` naming the key
/// and the object holding it when a key repeats.
pub fn parse(body: &[u8]) -> Result<Value, ApiError> {
    let malformed = |error: serde_json::Error| {
        ApiError::bad_request(ProblemCode::MalformedJson, format!("the body is not valid JSON: {error}"))
    };
    let mut reader = serde_json::Deserializer::from_slice(body);
    let CheckedValue(value) = serde_path_to_error::deserialize(&mut reader).map_err(|error| {
        let path = error.path().to_string();
        let error = error.into_inner();
        if !error.is_data() {
            return malformed(error);
        }
        // The only data error a value can raise is ours: everything else is syntax.
        let message = error.to_string();
        let message = super::extract::without_position(&message);
        let within = if path == "." { String::new() } else { format!(" in `{path}`") };
        ApiError::bad_request(ProblemCode::DuplicateKey, format!("the body {message}{within}"))
    })?;
    reader.end().map_err(malformed)?;
    Ok(value)
}

struct CheckedValue(Value);

impl<'de> Deserialize<'de> for CheckedValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedVisitor).map(CheckedValue)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // A whole number written with a fraction (`60.0`, `1e3`) is that integer, as JSON Schema's
        // `integer` has it: integer fields would otherwise refuse what the document allows. Past
        // 2^53 a float no longer holds every integer, so it stays a float there.
        const EXACT: f64 = 9_007_199_254_740_992.0;
        if value.fract() == 0.0 && value.abs() <= EXACT {
            #[allow(clippy::cast_possible_truncation)]
            return Ok(Value::from(value as i64));
        }
        // JSON text has no NaN or infinity, so every parsed float is finite.
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let mut array = Vec::with_capacity(items.size_hint().unwrap_or(0).min(1024));
        while let Some(CheckedValue(item)) = items.next_element()? {
            array.push(item);
        }
        Ok(Value::Array(array))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("repeats the key `{key}`")));
            }
            let CheckedValue(value) = entries.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn code(body: &str) -> Option<&'static str> {
        match parse(body.as_bytes()) {
            Err(ApiError::BadRequest { code, .. }) => Some(code.as_str()),
            _ => None,
        }
    }

    #[test]
    fn a_repeated_key_anywhere_is_named_with_its_object() {
        for body in [
            r#"{"name": "A", "name": "B"}"#,
            r#"{"items": [{"name": "A"}, {"price": "1", "price": "2"}]}"#,
            r#"{"custom": {"a": {"b": 1, "b": 1}}}"#,
        ] {
            assert_eq!(code(body), Some("duplicate_key"), "{body}");
        }
        let Err(ApiError::BadRequest { detail, .. }) =
            parse(br#"{"items": [{}, {"price": "1", "price": "2"}]}"#)
        else {
            panic!("accepted")
        };
        assert_eq!(detail, "the body repeats the key `price` in `items[1]`");
    }

    #[test]
    fn values_read_as_serde_json_reads_them() {
        let body = r#"{"a": [1, -2, 3.5, 18446744073709551615, true, null, "x"], "b": {"c": {}}, "d": []}"#;
        assert_eq!(parse(body.as_bytes()).ok(), serde_json::from_str::<Value>(body).ok());
        assert_eq!(parse(b"[]").ok(), Some(json!([])));
    }

    #[test]
    fn whole_numbers_written_with_a_fraction_are_integers() {
        assert_eq!(
            parse(br#"{"a": 60.0, "b": 1e3, "c": -0.0, "d": 2.5, "e": 1e300}"#).ok(),
            Some(json!({
                "a": 60, "b": 1000, "c": 0, "d": 2.5, "e": 1e300
            }))
        );
    }

    #[test]
    fn what_is_not_json_is_malformed() {
        for body in ["{", "{} {}", "{\"a\": 1e999}", "[", ""] {
            assert_eq!(code(body), Some("malformed_json"), "{body}");
        }
    }
}
