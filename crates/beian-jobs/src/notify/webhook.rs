//! Template messages posted to a webhook configured by the developer.
//!
//! The wire format is specified in `docs/webhooks.md` (a test recomputes its test vector).
//! The payload is posted as JSON (`Content-Type: application/json`) with these headers:
//!
//! - `X-Beian-Event`: the notice kind (`template` in the payload);
//! - `X-Beian-Event-Id`: the same on every retry of one delivery (receivers dedupe on it);
//! - `X-Beian-Timestamp`: the sending time in Unix seconds;
//! - `X-Beian-Signature`: `v1=` followed by the lowercase hex HMAC-SHA256, keyed with the
//!   secret, of the string `<timestamp>.<body>` (the timestamp header's exact text, a dot, the
//!   exact body bytes).
//!
//! The signature covers the timestamp, so a receiver that refuses timestamps far from its
//! clock refuses replays of old requests. `v1` names this scheme; another scheme would get
//! another prefix.
//!
//! Delivery succeeds on any 2xx answer; anything else is an error and the job is retried.
//! The request has the time limits of the given [`reqwest::Client`]; use one with a timeout.

use super::{check_http_status, http_error, NotifyError};
use beian_ports::messaging::WebhookDelivery;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::{SystemTime, UNIX_EPOCH};

/// The header carrying `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub const SIGNATURE_HEADER: &str = "X-Beian-Signature";
/// The header carrying the sending time in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Beian-Timestamp";
/// The header carrying the event's name (the notice kind).
pub const EVENT_HEADER: &str = "X-Beian-Event";
/// The header carrying the delivery's id, stable across retries.
pub const EVENT_ID_HEADER: &str = "X-Beian-Event-Id";

/// Posts the delivery's payload to its URL, signed with its secret when it has one.
pub async fn send_webhook(http: &reqwest::Client, d: &WebhookDelivery) -> Result<(), NotifyError> {
    let body = serde_json::to_vec(&d.payload)
        .map_err(|e| NotifyError::InvalidInput(format!("webhook payload is not serializable: {e}")))?;
    let ts = SystemTime::now().duration_since(UNIX_EPOCH).map(|t| t.as_secs()).unwrap_or(0).to_string();
    let mut req = http
        .post(&d.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(EVENT_HEADER, &d.event)
        .header(EVENT_ID_HEADER, &d.event_id)
        .header(TIMESTAMP_HEADER, &ts);
    if let Some(secret) = &d.secret {
        req = req.header(SIGNATURE_HEADER, signature_v1(secret, &ts, &body)?);
    }
    let resp = req.body(body).send().await.map_err(|e| http_error("webhook", e))?;
    check_http_status("webhook", resp).await.map(|_| ())
}

/// `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub fn signature_v1(secret: &str, timestamp: &str, body: &[u8]) -> Result<String, NotifyError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| NotifyError::InvalidInput(format!("webhook secret: {e}")))?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1={}", hex::encode(mac.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_timestamp_dot_body() {
        // HMAC-SHA256("Jefe", "what do ya want.for nothing?"), computed independently with
        // Python's hmac module.
        assert_eq!(
            signature_v1("Jefe", "what do ya want", b"for nothing?").expect("hmac"),
            "v1=e33f91577b90d4b3bbd73cb61803074f1965d27701b5527942dd9ea9443af37c"
        );
    }
}
