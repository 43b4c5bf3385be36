//! The bridge's side of the protocol, for a peer written in Rust (the standalone simulator):
//! [`SignedInbox`] delivers events to the platform's `POST /api/authority/events`, signed,
//! retrying what may succeed later, and hands back the platform's receipt.

use crate::protocol::{unix_now, ErrorAnswer, EventAnswer, EventEnvelope, Keys, VERSION};
use beian_ports::authority::{AuthorityEvent, AuthorityInbox, Receipt};
use beian_ports::{BoxFuture, PortError, PortResult};
use std::time::Duration;

/// The platform's inbox over HTTP: an [`AuthorityInbox`] whose `receive` is a signed POST.
/// Transient failures (no connection, timeouts, 408, 429, 5xx) are retried a few times with
/// a growing pause and then answered `PortError::Retry` — the caller's own job or request
/// retries later, and the platform applies a redelivered event once (by its id). A 4xx is the
/// platform's refusal: `PortError::Refused` with its `errmsg`.
pub struct SignedInbox {
    http: reqwest::Client,
    url: String,
    keys: Keys,
    key_id: String,
    attempts: u32,
    pause: Duration,
}

impl SignedInbox {
    /// `platform_url`: the platform's base URL (events go to `{platform_url}/api/authority/events`).
    pub fn new(platform_url: &str, keys: Keys, key_id: &str) -> SignedInbox {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        SignedInbox {
            http,
            url: format!("{}/api/authority/events", platform_url.trim_end_matches('/')),
            keys,
            key_id: key_id.to_string(),
            attempts: 4,
            pause: Duration::from_millis(250),
        }
    }

    async fn deliver(&self, envelope: &EventEnvelope) -> PortResult<Receipt> {
        let body = serde_json::to_vec(envelope).map_err(|e| PortError::Retry(e.to_string()))?;
        let mut last = String::new();
        for attempt in 0..self.attempts {
            if attempt > 0 {
                tokio::time::sleep(self.pause * (1 << attempt.min(4))).await;
            }
            // Signed again on each attempt: a retry is not a stale replay.
            let Some(headers) = self.keys.sign(&self.key_id, unix_now(), &body) else {
                return Err(PortError::Refused(format!("key {} is not configured", self.key_id)));
            };
            let mut req = self.http.post(&self.url).header("Content-Type", "application/json");
            for (name, value) in headers {
                req = req.header(name, value);
            }
            let resp = match req.body(body.clone()).send().await {
                Ok(r) => r,
                Err(e) => {
                    last = format!("platform unreachable: {e}");
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            if (200..300).contains(&status) {
                let answer: EventAnswer = serde_json::from_str(&text)
                    .map_err(|e| PortError::Retry(format!("unreadable answer from the platform: {e}")))?;
                return match answer.receipt.as_str() {
                    "applied" => Ok(Receipt::Applied),
                    "ignored" => Ok(Receipt::Ignored),
                    "duplicate" => Ok(Receipt::Duplicate),
                    other => Err(PortError::Retry(format!("unknown receipt {other:?}"))),
                };
            }
            let message = serde_json::from_str::<ErrorAnswer>(&text).map(|a| a.errmsg).unwrap_or(text);
            if status >= 500 || status == 408 || status == 429 {
                last = format!("platform answered {status}: {message}");
                continue;
            }
            return Err(PortError::Refused(message));
        }
        Err(PortError::Retry(last))
    }
}

impl AuthorityInbox for SignedInbox {
    fn receive(
        &self,
        event_id: String,
        appid: String,
        round: u32,
        event: AuthorityEvent,
    ) -> BoxFuture<'_, PortResult<Receipt>> {
        Box::pin(async move {
            let envelope = EventEnvelope { version: VERSION, event_id, appid, round, event };
            self.deliver(&envelope).await
        })
    }
}
