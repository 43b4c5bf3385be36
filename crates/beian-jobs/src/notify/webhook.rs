//! Template messages posted to a webhook configured by the developer.
//!
//! The payload is posted as JSON (`Content-Type: application/json`). When the developer
//! configured a secret, two headers let the receiver check that the request comes from
//! beian:
//!
//! - `X-Beian-Timestamp`: the sending time in Unix seconds;
//! - `X-Beian-Signature`: `sha256=` followed by the lowercase hex HMAC-SHA256 of the exact
//!   request body bytes, keyed with the secret.
//!
//! The signature covers the body only, not the timestamp. A receiver verifies it by
//! recomputing the HMAC over the raw body (before parsing it) and comparing in constant time;
//! it may reject requests whose timestamp is far from its clock.
//!
//! Delivery succeeds on any 2xx answer; anything else is an error and the job is retried.
//! The request has the time limits of the given [`reqwest::Client`]; use one with a timeout.

use super::{check_http_status, http_error, NotifyError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::{SystemTime, UNIX_EPOCH};

/// The header carrying `sha256=<hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Beian-Signature";
/// The header carrying the sending time in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Beian-Timestamp";

/// Posts `payload` to `url`, signed with `secret` when given.
pub async fn send_webhook(
    http: &reqwest::Client,
    url: &str,
    secret: Option<&str>,
    payload: &serde_json::Value,
) -> Result<(), NotifyError> {
    let body = serde_json::to_vec(payload)
        .map_err(|e| NotifyError::InvalidInput(format!("webhook payload is not serializable: {e}")))?;
    let mut req = http.post(url).header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(secret) = secret {
        let ts = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        req =
            req.header(SIGNATURE_HEADER, signature(secret, &body)?).header(TIMESTAMP_HEADER, ts.to_string());
    }
    let resp = req.body(body).send().await.map_err(|e| http_error("webhook", e))?;
    check_http_status("webhook", resp).await.map(|_| ())
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
fn signature(secret: &str, body: &[u8]) -> Result<String, NotifyError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| NotifyError::InvalidInput(format!("webhook secret: {e}")))?;
    mac.update(body);
    Ok(format!("sha256={}", hex::encode(mac.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?").expect("hmac"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
