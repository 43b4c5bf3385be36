//! The real outbound senders, implementing `beian_ports::messaging`: e-mail over SMTP with
//! lettre, STARTTLS or implicit TLS ([`SmtpSender`], [`send_mail`]), SMS through a generic HTTP gateway ([`HttpSmsSender`],
//! [`send_sms`]) and template messages posted to a developer-configured webhook
//! ([`HttpWebhookSender`], [`send_webhook`]).
//!
//! Nothing here may use `beian-service` (a tidy test checks): a sender knows the contract
//! and the other side, never the use cases. The development SMS outbox is not here — it is a
//! stand-in that writes into beian's own database (`beian_service::notify::SmsOutbox`).
//!
//! Every channel returns a [`NotifyError`] whose message is written in English: it ends up
//! in operator logs and in the `last_error` column of the job table, so it says what was
//! attempted and what the other side answered. Invalid input is a permanent failure
//! ([`PortError::Refused`]: dead-lettered at once); everything else may pass on a retry.

mod sms_http;
mod smtp;
mod webhook;

pub use sms_http::{send_sms, HttpSmsConfig};
pub use smtp::{send_mail, Mailer, SmtpConfig, SmtpSecurity};
pub use webhook::{
    send_webhook, signature_v1, EVENT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

use beian_ports::messaging::{
    EmailMessage, EmailSender, SmsMessage, SmsSender, WebhookDelivery, WebhookSender,
};
use beian_ports::{BoxFuture, PortError, PortResult};
use std::time::Duration;

/// Why a notification could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The receiver could not be reached, or the connection broke mid-conversation.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The SMTP server answered with an unexpected reply (the text names the reply code).
    #[error("SMTP protocol error: {0}")]
    Protocol(String),
    /// An HTTP receiver answered with a non-2xx status or a non-zero result code.
    #[error("rejected by receiver: {0}")]
    Rejected(String),
    /// The receiver refused for good (an SMTP 5xx: bad credentials, unknown recipient; a
    /// vendor's permanent error code); retrying will not help.
    #[error("refused: {0}")]
    Refused(String),
    /// The input (address, phone number, configuration) is unusable; retrying will not help.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A step took longer than its time limit.
    #[error("timed out: {0}")]
    Timeout(String),
}

impl NotifyError {
    /// Whether retrying later may succeed (everything except invalid input).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, NotifyError::InvalidInput(_) | NotifyError::Refused(_))
    }
}

impl From<NotifyError> for PortError {
    /// The message stays the channel's own (it is what the job's `last_error` shows).
    fn from(e: NotifyError) -> PortError {
        if e.is_retryable() {
            PortError::Retry(e.to_string())
        } else {
            PortError::Refused(e.to_string())
        }
    }
}

/// The HTTP client of outbound calls: time limits, and no redirects (a receiver cannot send
/// beian's request elsewhere).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// SMS through the HTTP gateway adapter (`[sms_gateway]`).
pub struct HttpSmsSender {
    http: reqwest::Client,
    config: HttpSmsConfig,
}

impl HttpSmsSender {
    pub fn new(http: reqwest::Client, config: HttpSmsConfig) -> HttpSmsSender {
        HttpSmsSender { http, config }
    }
}

impl SmsSender for HttpSmsSender {
    fn send_sms<'a>(&'a self, m: &'a SmsMessage) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move { Ok(send_sms(&self.http, &self.config, &m.phone, &m.text).await?) })
    }
}

/// E-mail through an SMTP server (`[smtp]`).
pub struct SmtpSender {
    mailer: Mailer,
}

impl SmtpSender {
    /// Refused when the configuration is unusable (see [`SmtpConfig::check`], `ca_file`).
    pub fn new(config: SmtpConfig) -> Result<SmtpSender, NotifyError> {
        Ok(SmtpSender { mailer: Mailer::new(&config)? })
    }
}

impl EmailSender for SmtpSender {
    fn send_email<'a>(&'a self, m: &'a EmailMessage) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move { Ok(self.mailer.send(&m.to, &m.subject, &m.body).await?) })
    }
}

/// Template messages posted (and signed) to developers' webhooks.
pub struct HttpWebhookSender {
    http: reqwest::Client,
}

impl HttpWebhookSender {
    pub fn new(http: reqwest::Client) -> HttpWebhookSender {
        HttpWebhookSender { http }
    }
}

impl WebhookSender for HttpWebhookSender {
    fn send_webhook<'a>(&'a self, d: &'a WebhookDelivery) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move { Ok(send_webhook(&self.http, d).await?) })
    }
}

/// The most of an HTTP answer body that is read (and quoted in errors).
const MAX_HTTP_BODY: usize = 64 * 1024;
/// The most of an answer body quoted in an error message.
const MAX_QUOTED: usize = 200;

/// Maps a reqwest error of a request to `what` onto a [`NotifyError`].
fn http_error(what: &str, e: reqwest::Error) -> NotifyError {
    // `without_url` keeps query strings (which may hold keys) out of logs.
    let timeout = e.is_timeout();
    let e = e.without_url();
    if timeout {
        NotifyError::Timeout(format!("{what}: {e}"))
    } else {
        NotifyError::Connect(format!("{what}: {e}"))
    }
}

/// Reads at most [`MAX_HTTP_BODY`] bytes of an answer body.
async fn read_body_limited(what: &str, mut resp: reqwest::Response) -> Result<Vec<u8>, NotifyError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| http_error(what, e))? {
        let room = MAX_HTTP_BODY - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A short, single-line excerpt of an answer body for error messages.
fn quote_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_QUOTED)
        .collect::<String>()
        .trim()
        .to_string();
    if text.chars().count() > MAX_QUOTED {
        out.push('…');
    }
    out
}

/// Checks an HTTP answer: 2xx is required; a non-2xx status becomes [`NotifyError::Rejected`]
/// quoting the body. Returns the (bounded) body of a 2xx answer.
async fn check_http_status(what: &str, resp: reqwest::Response) -> Result<Vec<u8>, NotifyError> {
    let status = resp.status();
    let body = read_body_limited(what, resp).await?;
    if !status.is_success() {
        let quoted = quote_body(&body);
        return Err(NotifyError::Rejected(if quoted.is_empty() {
            format!("{what}: HTTP {status}")
        } else {
            format!("{what}: HTTP {status}: {quoted}")
        }));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_body_is_single_line_and_bounded() {
        assert_eq!(quote_body(b"  bad\r\nrequest "), "bad  request");
        let long = "x".repeat(MAX_QUOTED + 10);
        let q = quote_body(long.as_bytes());
        assert_eq!(q.chars().count(), MAX_QUOTED + 1);
        assert!(q.ends_with('…'));
    }

    #[test]
    fn retryable() {
        assert!(!NotifyError::InvalidInput("x".into()).is_retryable());
        assert!(NotifyError::Timeout("x".into()).is_retryable());
    }
}
