//! Extractors and wire types every resource shares: validated JSON bodies and cursor pages.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, http::header, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::db::change_order::{ChangeWindow, ListOrder};
use crate::domain::FieldCode;
use crate::error::{ApiError, FieldError, ProblemCode};
use crate::state::AppState;

/// A JSON body, deserialised with the failing field's path on error: a 415 for another content
/// type, 413 past the body limit, 400 for malformed JSON or a repeated key, 422 naming the field that is missing,
/// unknown or of the wrong type. Handlers that check more rules themselves take this.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// A [`JsonBody`] that also passed its `validator` rules (422 naming every failing field).
#[derive(Debug)]
pub struct ValidatedJson<T>(pub T);

const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit =
            request.app_data::<web::Data<AppState>>().map_or(DEFAULT_BODY_LIMIT, |state| state.body_limit);
        let body = read_json(request, payload, limit);
        Box::pin(async move { body.await.map(JsonBody) })
    }
}

/// A [`JsonBody`] that may be as large as a spreadsheet upload (`CRM_IMPORT_LIMIT_BYTES`).
#[derive(Debug)]
pub struct LargeJsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for LargeJsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit =
            request.app_data::<web::Data<AppState>>().map_or(DEFAULT_BODY_LIMIT, |state| state.import_limit);
        let body = read_json(request, payload, limit);
        Box::pin(async move { body.await.map(LargeJsonBody) })
    }
}

/// Reads a JSON body of at most `limit` bytes: 415 unless it is sent as JSON, 413 past the limit.
fn read_json<T: DeserializeOwned + 'static>(
    request: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> Pin<Box<dyn Future<Output = Result<T, ApiError>>>> {
    let is_json = request.mime_type().ok().flatten().is_some_and(|mime| {
        mime.type_() == "application"
            && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
    });
    let declared_length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    let mut payload = payload.take();
    Box::pin(async move {
        if !is_json {
            return Err(ApiError::UnsupportedMediaType("send the body as application/json".to_string()));
        }
        if declared_length.is_some_and(|length| length > limit) {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|error| {
                ApiError::bad_request(ProblemCode::MalformedBody, format!("reading the body failed: {error}"))
            })?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        parse_json(&body)
    })
}

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidatedJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = JsonBody::<T>::from_request(request, payload);
        Box::pin(async move {
            let JsonBody(value) = body.await?;
            value.validate()?;
            Ok(ValidatedJson(value))
        })
    }
}

/// Deserialises JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value = super::strict_json::parse(body)?;
    // Every request body of this API is an object; serde would read an array as a struct's fields.
    if !value.is_object() {
        return Err(ApiError::invalid_field("body", FieldCode::Type, "must be a JSON object"));
    }
    // PostgreSQL can't store a NUL character in text.
    if let Some(path) = nul_path(&value, String::new()) {
        return Err(ApiError::invalid_field(
            &path,
            FieldCode::NulCharacter,
            "may not contain NUL characters",
        ));
    }
    from_json_value(value)
}

/// Deserialises a JSON value already read from a body (one operation's of a batch), naming the
/// field at fault.
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        ApiError::Validation(vec![field_error_from_serde(&path, error.inner())])
    })
}

/// The path of the first string (or key) holding a NUL character.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match value {
        serde_json::Value::String(text) => {
            text.contains('\0').then_some(if path.is_empty() { "body".to_string() } else { path })
        }
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(index, item)| nul_path(item, format!("{path}[{index}]")))
        }
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') { Some(join(key)) } else { nul_path(item, join(key)) }
        }),
        _ => None,
    }
}

/// serde's message without its " at line L column C": the position means nothing to an API caller.
pub(crate) fn without_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

fn field_error_from_serde(path: &str, error: &serde_json::Error) -> FieldError {
    let full = error.to_string();
    let message = without_position(&full).to_string();
    let quoted = message.split('`').nth(1).map(str::to_string);
    let join = |name: &str| if path == "." { name.to_string() } else { format!("{path}.{name}") };
    let (field, code) = if message.starts_with("unknown field") {
        // The path already ends at the unknown field.
        (path.to_string(), FieldCode::UnknownField)
    } else if message.starts_with("missing field") {
        // The path ends at the object that lacks it.
        (join(quoted.as_deref().unwrap_or("?")), FieldCode::Required)
    } else {
        (if path == "." { "body".to_string() } else { path.to_string() }, FieldCode::Invalid)
    };
    FieldError::new(field, code, message)
}

/// `?allow_duplicate=` of the creates that refuse a record a live one already has the contact
/// details of (clients: email, phone or tax id; contacts: email or phone).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AllowDuplicate {
    /// Create the record even if a live one of its kind has the same email or phone (or, for a
    /// client, tax id).
    pub allow_duplicate: Option<bool>,
}

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;

/// `?limit=&cursor=` of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many items to return: 1 to 200, 50 when omitted.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn limit(&self) -> Result<u32, ApiError> {
        page_limit(self.limit)
    }

    /// The decoded position after which the page starts.
    pub fn after<K: DeserializeOwned>(&self) -> Result<Option<K>, ApiError> {
        decode_cursor(self.cursor.as_deref())
    }
}

/// The order of a list by change time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub enum UpdatedOrder {
    /// Oldest change first.
    #[serde(rename = "updated_at")]
    UpdatedAt,
    /// Latest change first.
    #[serde(rename = "-updated_at")]
    UpdatedAtDescending,
}

/// What a sync that polls a list sends: `updated_since`, and the order by change time.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangedParams {
    /// Only records changed at or after this time; the list is then in the order of change, oldest first.
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
    /// `updated_at`: the oldest change first, for a sync that pages through changes from `updated_since`;
    /// `-updated_at`: the latest first. Without either parameter, the list's own order.
    #[param(inline)]
    pub sort: Option<UpdatedOrder>,
}

impl ChangedParams {
    /// The list's order: by change time when `updated_since` or `sort` is given, the cursor then
    /// being (updated_at, id); otherwise its own, after the key `cursor` holds.
    pub fn order<K: DeserializeOwned>(&self, cursor: Option<&str>) -> Result<ListOrder<K>, ApiError> {
        if self.updated_since.is_none() && self.sort.is_none() {
            return Ok(ListOrder::Own(decode_cursor(cursor)?));
        }
        Ok(ListOrder::Changed(ChangeWindow {
            since: self.updated_since,
            oldest_first: self.sort != Some(UpdatedOrder::UpdatedAtDescending),
            after: decode_cursor(cursor)?,
        }))
    }
}

/// A row's cursor key in a list ordered as `order` says: (updated_at, id) by change time, `own`
/// otherwise.
pub fn list_key<O, K: Serialize>(
    order: &ListOrder<O>,
    own: K,
    updated_at: chrono::DateTime<chrono::Utc>,
    id: uuid::Uuid,
) -> serde_json::Value {
    match order {
        ListOrder::Own(_) => serde_json::json!(own),
        ListOrder::Changed(_) => serde_json::json!([updated_at, id]),
    }
}

/// A list's `limit`: 50 when omitted, 1 to 200 otherwise.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    limit_between(limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
}

/// A `limit` query parameter: `default` when omitted, 1 to `most` otherwise.
pub fn limit_between(limit: Option<u32>, default: u32, most: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(default),
        Some(limit) if (1..=most).contains(&limit) => Ok(limit),
        Some(_) => Err(ApiError::bad_request(
            ProblemCode::InvalidQuery,
            format!("limit must be between 1 and {most}"),
        )),
    }
}

/// A cursor for a position (`decode_cursor` reads it back): opaque to clients.
pub fn encode_cursor<K: Serialize>(position: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

/// Decodes a `cursor` this API returned; an empty one is the first page, as when none is sent.
pub fn decode_cursor<K: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<K>, ApiError> {
    let Some(cursor) = cursor.filter(|cursor| !cursor.is_empty()) else { return Ok(None) };
    let invalid =
        || ApiError::bad_request(ProblemCode::InvalidCursor, "the cursor is not one this API returned");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map(Some).map_err(|_| invalid())
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows: the extra row only says another page exists.
    pub fn from_rows<R, K: Serialize>(
        mut rows: Vec<R>,
        limit: u32,
        key: impl Fn(&R) -> K,
        to_item: impl FnMut(R) -> T,
    ) -> Self {
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = has_more.then(|| rows.last().map(|last| encode_cursor(&key(last)))).flatten();
        Page { data: rows.into_iter().map(to_item).collect(), next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "the fields are only deserialised")]
    struct Body {
        name: String,
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "the fields are only deserialised")]
    struct Nested {
        count: u32,
    }

    fn fields(result: Result<Body, ApiError>) -> Vec<(String, String)> {
        match result {
            Err(ApiError::Validation(errors)) => {
                errors.into_iter().map(|e| (e.field, e.code.to_string())).collect()
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_unknown_missing_and_mistyped_fields() {
        assert_eq!(
            fields(parse_json(br#"{"name":"a","colour":1}"#)),
            [("colour".into(), "unknown_field".into())]
        );
        assert_eq!(fields(parse_json(br#"{}"#)), [("name".into(), "required".into())]);
        assert_eq!(
            fields(parse_json(br#"{"name":"a","nested":{"count":"x"}}"#)),
            [("nested.count".into(), "invalid".into())]
        );
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        assert!(matches!(
            parse_json::<Body>(b"{"),
            Err(ApiError::BadRequest { code: ProblemCode::MalformedJson, .. })
        ));
        assert!(matches!(parse_json::<Body>(br#"{"name":"a"} x"#), Err(ApiError::BadRequest { .. })));
    }

    #[test]
    fn pages_carry_a_cursor_only_when_more_rows_exist() -> Result<(), ApiError> {
        let page = Page::from_rows(vec![1, 2, 3], 2, |row| *row, |row| row);
        assert_eq!(page.data, [1, 2]);
        let params = PageParams { limit: None, cursor: page.next_cursor };
        assert_eq!(params.after::<i32>()?, Some(2));
        assert!(Page::from_rows(vec![1, 2], 2, |row| *row, |row| row).next_cursor.is_none());
        Ok(())
    }
}

/// The `If-Match` precondition of a PATCH or DELETE: absent means "whatever the version".
#[derive(Debug, Default)]
pub struct IfMatch(Option<Vec<String>>);

impl IfMatch {
    /// 412 with the current version unless the header names it (or is `*`).
    /// The precondition a batch operation's `version` states, as `If-Match: "<version>"` would.
    pub fn of_version(version: Option<i32>) -> Self {
        Self(version.map(|version| vec![etag(version)]))
    }

    /// 412 (`current_version` 0) when the header is sent for a record that doesn't exist yet: no
    /// tag, not even `*`, matches nothing (RFC 9110, 13.1.1).
    pub fn check_absent(&self) -> Result<(), ApiError> {
        match self.0 {
            Some(_) => Err(ApiError::VersionMismatch { current_version: 0 }),
            None => Ok(()),
        }
    }

    pub fn check(&self, current_version: i32) -> Result<(), ApiError> {
        let Some(tags) = &self.0 else { return Ok(()) };
        let current = etag(current_version);
        let matches = tags.iter().any(|tag| tag == "*" || tag.trim_start_matches("W/") == current);
        if matches { Ok(()) } else { Err(ApiError::VersionMismatch { current_version }) }
    }
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let tags: Vec<String> = request
            .headers()
            .get_all(header::IF_MATCH)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|tag| tag.trim().to_string())
            .filter(|tag| !tag.is_empty())
            .collect();
        std::future::ready(Ok(IfMatch((!tags.is_empty()).then_some(tags))))
    }
}

/// The entity tag of a record version, as sent in `ETag` and expected in `If-Match`.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// A versioned record as the answer to a read or a write: its version as `ETag`, and when it was
/// just created (201), its URL as `Location`, `/api/v1/{collection}/{id}`.
pub fn versioned_http(
    status: actix_web::http::StatusCode,
    version: i32,
    collection: &str,
    id: impl std::fmt::Display,
    body: &impl Serialize,
) -> actix_web::HttpResponse {
    let mut response = actix_web::HttpResponse::build(status);
    response.insert_header((header::ETAG, etag(version)));
    if status == actix_web::http::StatusCode::CREATED {
        response.insert_header((header::LOCATION, format!("/api/v1/{collection}/{id}")));
    }
    response.json(body)
}

/// Deserialises a PATCH field that may be absent (`None`), `null` (`Some(None)`, clear it) or a
/// value (`Some(Some(v))`). Use with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// [`not_null`] for a field holding an object: serde reads a struct from an array of its fields'
/// values too, which the document doesn't allow and a client never means.
pub fn not_null_object<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: serde::de::DeserializeOwned,
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    match not_null::<serde_json::Value, D>(deserializer)? {
        Some(value) if value.is_object() => serde_json::from_value(value).map(Some).map_err(D::Error::custom),
        Some(_) => Err(D::Error::custom("must be a JSON object")),
        None => Ok(None),
    }
}

/// Deserialises a PATCH field that may be absent but not `null`: a null is refused, not ignored.
/// Use with `#[serde(default, deserialize_with = "not_null")]`.
pub fn not_null<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    // Through Option, so that a null is a clear data error for every T (serde_json reports a
    // null where an enum belongs as a syntax error otherwise).
    match Option::<T>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(D::Error::custom("may not be null")),
    }
}
