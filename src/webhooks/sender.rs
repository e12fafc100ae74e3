//! Sending one delivery: a signed POST with a deadline, no redirects, a capped read of the answer,
//! and only to addresses `address` allows.

use std::time::{Duration, Instant};

use actix_tls::connect::{Connector as TcpConnector, Resolver};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::db::models::webhook::{AttemptOutcome, ClaimedDelivery};
use crate::webhooks::address::{GuardedResolver, is_public, literal_address, refusal};
use crate::webhooks::signing::signature_header;

/// The longest an attempt may take, from connecting to the end of the answer's excerpt.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an answer is read and kept in the delivery log.
const EXCERPT_BYTES: usize = 1024;

/// Sends deliveries; one per thread of the actix runtime (the client is not `Send`).
pub struct Sender {
    client: awc::Client,
    allow_private: bool,
}

impl Sender {
    pub fn new(allow_private: bool) -> Self {
        let tcp = TcpConnector::new(Resolver::custom(GuardedResolver { allow_private })).service();
        let connector = awc::Connector::new().connector(tcp).timeout(TIMEOUT);
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(TIMEOUT)
            // A redirect could lead anywhere, a private address included: the answer stands as sent.
            .disable_redirects()
            .add_default_header((
                awc::http::header::USER_AGENT,
                concat!("crm-webhooks/", env!("CARGO_PKG_VERSION")),
            ))
            .finish();
        Self { client, allow_private }
    }

    /// Sends `delivery` signed as of `now`, and says what came of it.
    pub async fn send(&self, delivery: &ClaimedDelivery, now: DateTime<Utc>) -> AttemptOutcome {
        let started = Instant::now();
        let outcome = match actix_web::rt::time::timeout(TIMEOUT, self.attempt(delivery, now)).await {
            Ok(Ok((status, excerpt))) => (Some(status), Some(excerpt), None),
            Ok(Err(error)) => (None, None, Some(error)),
            Err(_) => (None, None, Some(format!("no answer within {} s", TIMEOUT.as_secs()))),
        };
        let (response_status, response_excerpt, error) = outcome;
        AttemptOutcome {
            response_status,
            latency_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
            response_excerpt,
            error,
        }
    }

    async fn attempt(&self, delivery: &ClaimedDelivery, now: DateTime<Utc>) -> Result<(u16, String), String> {
        let uri: awc::http::Uri =
            delivery.url.parse().map_err(|error| format!("the URL is not valid: {error}"))?;
        // An address in the URL is connected to without a lookup, so the resolver never sees it.
        if let Some(ip) = uri.host().and_then(literal_address)
            && !self.allow_private
            && !is_public(ip)
        {
            return Err(refusal(ip));
        }
        let body = serde_json::to_vec(&delivery.payload).map_err(|error| error.to_string())?;
        let id = delivery.id.to_string();
        let timestamp = now.timestamp();
        let mut secrets = vec![delivery.secret.as_str()];
        secrets.extend(delivery.previous_secret.as_deref());
        let mut response = self
            .client
            .post(uri)
            .insert_header((awc::http::header::CONTENT_TYPE, "application/json"))
            .insert_header(("webhook-id", id.as_str()))
            .insert_header(("webhook-timestamp", timestamp.to_string()))
            .insert_header(("webhook-signature", signature_header(&secrets, &id, timestamp, &body)))
            .send_body(body)
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        let mut excerpt = Vec::new();
        while excerpt.len() < EXCERPT_BYTES {
            match response.next().await {
                Some(Ok(chunk)) => excerpt.extend_from_slice(&chunk),
                // The status is the answer; a body cut short doesn't change it.
                Some(Err(_)) | None => break,
            }
        }
        excerpt.truncate(EXCERPT_BYTES);
        // PostgreSQL text holds no NUL.
        Ok((status, String::from_utf8_lossy(&excerpt).replace('\0', "")))
    }
}
