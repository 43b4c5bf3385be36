//! [`BridgeGateway`]: the authority gateway as signed POSTs to the platform's bridge.
//!
//! What the answer means for the job that called it: 2xx accepted (a repeat of the same
//! operation id answers 2xx again — the bridge is idempotent); 408, 429, 5xx, a timeout or no
//! connection → `PortError::Retry` (the job worker backs off and tries again); any other 4xx →
//! `PortError::Refused` with the bridge's `errmsg` (the job is dead-lettered with it, for an
//! operator). The bridge reports back only through the platform's `/api/authority/events`.

use crate::config::BridgeConfig;
use crate::protocol::{operation_id, unix_now, ErrorAnswer, OperationEnvelope, VERSION};
use beian_ports::authority::{AuthorityGateway, Operation};
use beian_ports::{BoxFuture, PortError, PortResult};

pub struct BridgeGateway {
    http: reqwest::Client,
    config: BridgeConfig,
}

/// The longest part of a bridge's answer kept in an error (job errors are shown to operators).
const MAX_ERROR_CHARS: usize = 300;

impl BridgeGateway {
    pub fn new(config: BridgeConfig) -> BridgeGateway {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(std::time::Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        BridgeGateway { http, config }
    }

    /// Where operations go.
    pub fn operations_url(&self) -> String {
        format!("{}/v1/operations", self.config.url)
    }

    async fn post(&self, op: Operation) -> PortResult<()> {
        let id = operation_id(&op);
        let envelope = OperationEnvelope {
            version: VERSION,
            operation_id: id.clone(),
            sent_at: unix_now(),
            operation: op,
        };
        let body = serde_json::to_vec(&envelope).map_err(|e| PortError::Retry(e.to_string()))?;
        let Some(headers) = self.config.keys.sign(&self.config.current_key, envelope.sent_at, &body) else {
            return Err(PortError::Retry(format!(
                "bridge key {} is not configured",
                self.config.current_key
            )));
        };
        let mut req = self.http.post(self.operations_url()).header("Content-Type", "application/json");
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let resp = match req.body(body).send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Err(PortError::Retry(format!("bridge: no answer in time for {id}")))
            }
            Err(e) => {
                return Err(PortError::Retry(format!("bridge unreachable for {id}: {}", without_url(&e))))
            }
        };
        let status = resp.status();
        if status.is_success() {
            tracing::debug!(operation = %id, "bridge accepted the operation");
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        let message = match serde_json::from_str::<ErrorAnswer>(&text) {
            Ok(a) => format!("{} (errcode {})", a.errmsg, a.errcode),
            Err(_) => text.trim().to_string(),
        };
        let message: String = message.chars().take(MAX_ERROR_CHARS).collect();
        let what = format!("bridge answered {} for {id}: {message}", status.as_u16());
        if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            Err(PortError::Retry(what))
        } else {
            tracing::warn!(operation = %id, status = status.as_u16(), "the bridge refused an operation");
            Err(PortError::Refused(what))
        }
    }
}

/// A transport error without the URL (it is in the configuration, not news).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "the bridge");
    }
    s
}

impl AuthorityGateway for BridgeGateway {
    fn name(&self) -> &'static str {
        "bridge"
    }

    fn submit(&self, op: Operation) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(self.post(op))
    }
}
