//! Contract: outbound messages (SMS, e-mail, webhook template messages).
//!
//! A use case never sends: it writes a job in the same transaction as the change that causes
//! it. The job worker turns the job into one of the typed messages below and hands it to the
//! sender configured for its kind. A sender answers `Ok(())` when the other side accepted the
//! message, [`PortError::Retry`] when trying again later may succeed (the job backs off), and
//! [`PortError::Refused`] when it never will (the job is dead-lettered at once, for an
//! operator to look at). Error texts are English, for operators; they are stored with the
//! job after its phone number or address is masked.
//!
//! Senders are chosen once, from configuration, where the worker is built
//! (`crates/beian/src/app.rs`); an implementation depends on this crate and `beian-core` only.

use crate::{BoxFuture, PortResult};

/// One text message to one phone. Vendors send registered templates, not free text: the
/// message names its beian **event** and its **ordered parameters** (see
/// `docs/sms-templates.md`), which a vendor adapter maps to its template; the rendered `text`
/// is for the generic HTTP gateway and the development outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsMessage {
    /// The recipient as entered (digits, optionally `+` and a country code).
    pub phone: String,
    /// The full text, signature prefix (【小程序备案】) included.
    pub text: String,
    /// The beian event, e.g. `status_notice` (empty on texts queued before events existed).
    pub event: String,
    /// The event's parameters, (name, value), in the event's documented order.
    pub params: Vec<(String, String)>,
}

/// The SMS events beian sends and their parameters, in order (`docs/sms-templates.md`).
/// `authority_simulator` is only sent when the built-in simulator is the authority gateway.
pub const SMS_EVENTS: &[(&str, &[&str])] = &[
    ("face_verification", &["name", "link"]),
    ("status_notice", &["name", "title"]),
    ("authority_simulator", &["text"]),
];

/// One plain-text e-mail to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// One template message for a developer's webhook: where to post it, the secret that signs
/// it, the event's name and id and the JSON payload. The wire format (headers, the signed
/// string) is specified in `docs/webhooks.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDelivery {
    pub url: String,
    /// `None` only for webhooks saved before beian generated a secret for each (unsigned).
    pub secret: Option<String>,
    /// The notice kind (`template` in the payload), sent as `X-Beian-Event`.
    pub event: String,
    /// Stable across retries of one delivery (`X-Beian-Event-Id`), for receiver-side dedupe.
    pub event_id: String,
    pub payload: serde_json::Value,
}

/// Sends text messages (an HTTP SMS gateway; the development outbox stand-in).
pub trait SmsSender: Send + Sync {
    fn send_sms<'a>(&'a self, message: &'a SmsMessage) -> BoxFuture<'a, PortResult<()>>;
}

/// Sends e-mail (an SMTP relay).
pub trait EmailSender: Send + Sync {
    fn send_email<'a>(&'a self, message: &'a EmailMessage) -> BoxFuture<'a, PortResult<()>>;
}

/// Posts template messages to developers' webhooks.
pub trait WebhookSender: Send + Sync {
    fn send_webhook<'a>(&'a self, delivery: &'a WebhookDelivery) -> BoxFuture<'a, PortResult<()>>;
}

/// The SMS sender of a node with no SMS channel configured: every text is refused (so its
/// job is dead-lettered, visible to operators and retryable once a channel is configured)
/// instead of pretending it was sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSmsChannel;

impl SmsSender for NoSmsChannel {
    fn send_sms<'a>(&'a self, _message: &'a SmsMessage) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async {
            Err(crate::PortError::Refused(
                "no SMS channel is configured ([sms_gateway], or sms_outbox for development)".into(),
            ))
        })
    }
}
