//! The bridge protocol, version 1 (`docs/authority-bridge.md`): the two envelopes, the
//! signature headers and how a body is signed and checked. Both sides use this module — beian
//! (the gateway and the `/api/authority/events` route) and a peer (the standalone simulator).
//! The host platform's sync API (`beian/src/platform_api.rs`) signs with the same [`Keys`],
//! headers and replay window: one HMAC scheme in beian.

use beian_ports::authority::{AuthorityEvent, Operation};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;

/// The protocol version every envelope carries.
pub const VERSION: u32 = 1;
/// Which key signed the request.
pub const HEADER_KEY_ID: &str = "X-Beian-Key-Id";
/// When it was signed, unix seconds.
pub const HEADER_TIMESTAMP: &str = "X-Beian-Timestamp";
/// `hex(HMAC-SHA256(secret, timestamp + "\n" + body))`.
pub const HEADER_SIGNATURE: &str = "X-Beian-Signature";
/// A secret shorter than this is refused when the configuration is read.
pub const MIN_SECRET_LEN: usize = 32;
/// The default replay window, seconds either side of the receiver's clock.
pub const DEFAULT_REPLAY_WINDOW_SECS: u64 = 300;

/// beian → bridge: `POST {bridge_url}/v1/operations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationEnvelope {
    pub version: u32,
    /// `appid:kind:round` ([`operation_id`]): the same for every repeat of the request.
    pub operation_id: String,
    /// When this attempt was sent (unix seconds); a repeat carries its own.
    pub sent_at: i64,
    pub operation: Operation,
}

/// bridge → beian: `POST /api/authority/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Absent means 1.
    #[serde(default = "version_one")]
    pub version: u32,
    /// Unique per event and the same on every redelivery (the platform applies it once).
    pub event_id: String,
    pub appid: String,
    /// The round of the operation the event answers.
    pub round: u32,
    pub event: AuthorityEvent,
}

/// Why an event body is not acceptable: the field path (`event.kind`, `round`) and what is
/// wrong, in Chinese.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEvent {
    pub field: String,
    pub message: String,
}

/// Read an event body as `/api/authority/events` does (after its signature was checked): the
/// envelope, a known protocol version, an event id of 1 to 200 characters.
pub fn parse_event(body: &[u8]) -> Result<EventEnvelope, BadEvent> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let envelope: EventEnvelope = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        BadEvent { message: format!("事件格式错误（{field}）：{}", e.inner()), field }
    })?;
    if envelope.version != VERSION {
        return Err(BadEvent { field: "version".into(), message: "不支持的协议版本".into() });
    }
    if envelope.event_id.trim().is_empty() || envelope.event_id.chars().count() > 200 {
        return Err(BadEvent {
            field: "event_id".into(), message: "event_id 须为 1 到 200 个字符".into()
        });
    }
    Ok(envelope)
}

fn version_one() -> u32 {
    VERSION
}

/// What beian answers to an event: `{"receipt": "applied" | "ignored" | "duplicate"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventAnswer {
    pub receipt: String,
}

/// A refusal either side answers with a 4xx: `{"errcode": n, "errmsg": "…", "field": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    pub errcode: i64,
    pub errmsg: String,
    /// The JSON path of the offending field, when there is one (`event.kind`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The identity of an operation on the wire: `appid:kind:round`.
pub fn operation_id(op: &Operation) -> String {
    format!("{}:{}:{}", op.appid(), op.kind(), op.round())
}

/// The signing keys, by id. `Debug` never prints a secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Keys {
    keys: BTreeMap<String, String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("ids", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

impl Keys {
    /// Keys from `(id, secret)` pairs; an empty id or a secret shorter than
    /// [`MIN_SECRET_LEN`] is refused (naming the id, never the secret).
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Keys, String> {
        let mut keys = BTreeMap::new();
        for (id, secret) in pairs {
            let (id, secret) = (id.trim().to_string(), secret.trim().to_string());
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(format!("key id {id:?} must be letters, digits, '-', '_' or '.'"));
            }
            if secret.len() < MIN_SECRET_LEN {
                return Err(format!("key {id} must be at least {MIN_SECRET_LEN} characters"));
            }
            keys.insert(id, secret);
        }
        Ok(Keys { keys })
    }

    /// `id=secret,id=secret` (how the environment carries them).
    pub fn parse_list(list: &str) -> Result<Keys, String> {
        let mut pairs = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((id, secret)) = item.split_once('=') else {
                return Err("keys are written id=secret,id=secret".into());
            };
            pairs.push((id.to_string(), secret.to_string()));
        }
        Keys::new(pairs)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    pub fn ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// The three headers of a request whose body is `body`, signed with key `id` at
    /// `timestamp`. `None` if there is no such key.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> Option<[(&'static str, String); 3]> {
        let secret = self.keys.get(id)?;
        Some([
            (HEADER_KEY_ID, id.to_string()),
            (HEADER_TIMESTAMP, timestamp.to_string()),
            (HEADER_SIGNATURE, signature(secret, timestamp, body)),
        ])
    }

    /// Check a request's headers against its body: a known key, a timestamp within `window`
    /// seconds of `now`, and the signature (compared in constant time).
    pub fn verify(
        &self,
        key_id: Option<&str>,
        timestamp: Option<&str>,
        sig: Option<&str>,
        body: &[u8],
        now: i64,
        window: u64,
    ) -> Result<(), Unauthenticated> {
        let (Some(key_id), Some(timestamp), Some(sig)) = (key_id, timestamp, sig) else {
            return Err(Unauthenticated::MissingHeaders);
        };
        let secret = self.keys.get(key_id.trim()).ok_or(Unauthenticated::UnknownKey)?;
        let ts: i64 = timestamp.trim().parse().map_err(|_| Unauthenticated::BadTimestamp)?;
        let expected = hex::decode(sig.trim()).map_err(|_| Unauthenticated::BadSignature)?;
        mac(secret, ts, body).verify_slice(&expected).map_err(|_| Unauthenticated::BadSignature)?;
        // Checked after the signature, so only a holder of the key learns about clocks.
        if ts.abs_diff(now) > window {
            return Err(Unauthenticated::Stale);
        }
        Ok(())
    }
}

/// Why a signed request was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    #[error("the X-Beian-Key-Id, X-Beian-Timestamp and X-Beian-Signature headers are required")]
    MissingHeaders,
    #[error("unknown key id")]
    UnknownKey,
    #[error("the timestamp is not unix seconds")]
    BadTimestamp,
    #[error("the signature does not match")]
    BadSignature,
    /// Signed correctly, but outside the replay window.
    #[error("the timestamp is outside the replay window")]
    Stale,
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // Not reached: HMAC takes a key of any length.
        Err(_) => <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(body);
    mac
}

/// `hex(HMAC-SHA256(secret, timestamp + "\n" + body))`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

/// The wall clock, unix seconds: what timestamps are signed with and checked against (never
/// the platform's business clock, which tests and demos move).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::parse_list("k1=0123456789abcdef0123456789abcdef, k2=fedcba9876543210fedcba9876543210")
            .expect("keys")
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_newline_body() {
        // RFC 4231-style check against an independent computation of the same string.
        let sig = signature("key", 1_700_000_000, b"{}");
        let again = {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"key").expect("key");
            m.update(b"1700000000\n{}");
            hex::encode(m.finalize().into_bytes())
        };
        assert_eq!(sig, again);
        assert_eq!(sig.len(), 64);
    }

    #[test]
    fn verify_accepts_any_configured_key_and_refuses_the_rest() {
        let k = keys();
        let body = br#"{"a":1}"#;
        for id in ["k1", "k2"] {
            let [(_, kid), (_, ts), (_, sig)] = k.sign(id, 1000, body).expect("sign");
            assert_eq!(k.verify(Some(&kid), Some(&ts), Some(&sig), body, 1000, 300), Ok(()));
            assert_eq!(
                k.verify(Some(&kid), Some(&ts), Some(&sig), b"{\"a\":2}", 1000, 300),
                Err(Unauthenticated::BadSignature)
            );
            assert_eq!(
                k.verify(Some(&kid), Some(&ts), Some(&sig), body, 1301, 300),
                Err(Unauthenticated::Stale)
            );
            assert_eq!(k.verify(Some(&kid), Some(&ts), Some(&sig), body, 700, 300), Ok(()), "a clock behind");
        }
        let [_, (_, ts), (_, sig)] = k.sign("k1", 1000, body).expect("sign");
        assert_eq!(
            k.verify(Some("k2"), Some(&ts), Some(&sig), body, 1000, 300),
            Err(Unauthenticated::BadSignature)
        );
        assert_eq!(
            k.verify(Some("k3"), Some(&ts), Some(&sig), body, 1000, 300),
            Err(Unauthenticated::UnknownKey)
        );
        assert_eq!(
            k.verify(None, Some(&ts), Some(&sig), body, 1000, 300),
            Err(Unauthenticated::MissingHeaders)
        );
        assert_eq!(
            k.verify(Some("k1"), Some("x"), Some(&sig), body, 1000, 300),
            Err(Unauthenticated::BadTimestamp)
        );
    }

    #[test]
    fn keys_are_checked_and_never_printed() {
        assert!(Keys::parse_list("k1=short").is_err());
        assert!(Keys::parse_list("nosecret").is_err());
        assert!(Keys::parse_list("bad id=0123456789abcdef0123456789abcdef").is_err());
        let printed = format!("{:?}", keys());
        assert!(printed.contains("k1") && !printed.contains("0123456789abcdef"), "{printed}");
    }

    #[test]
    fn envelopes_round_trip_and_events_default_to_version_one() {
        let e: EventEnvelope = serde_json::from_str(
            r#"{"event_id":"e1","appid":"wx1","round":2,"event":{"kind":"sms_verified"}}"#,
        )
        .expect("event");
        assert_eq!((e.version, e.event), (1, AuthorityEvent::SmsVerified));
    }
}
