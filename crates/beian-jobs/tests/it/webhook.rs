//! `send_webhook` against an axum receiver that verifies the `v1` signature the way
//! docs/webhooks.md tells receivers to: HMAC over `timestamp.body`, constant-time compare,
//! timestamps more than 5 minutes away refused. A replay with a changed timestamp fails.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use beian_jobs::notify::{send_webhook, signature_v1, NotifyError};
use beian_ports::messaging::WebhookDelivery;
use beian_testkit::servers::{closed_addr, serve_http, Running};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECRET: &str = "whsec-开发者密钥";

#[derive(Debug, Clone)]
struct Seen {
    payload: serde_json::Value,
    body: Vec<u8>,
    signature: Option<String>,
    timestamp: Option<String>,
    event: Option<String>,
    event_id: Option<String>,
}

#[derive(Clone)]
struct Receiver {
    /// When set, requests must be signed with it.
    secret: Option<&'static str>,
    status: StatusCode,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| v.to_str().expect("ASCII header").to_string())
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}

/// A receiver's check, as docs/webhooks.md shows it.
fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), &'static str> {
    let ts = timestamp.ok_or("timestamp missing")?;
    let hex_sig = signature.and_then(|s| s.strip_prefix("v1=")).ok_or("signature missing")?;
    let sig = hex::decode(hex_sig).map_err(|_| "signature not hex")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| "signature mismatch")?;
    let t: u64 = ts.parse().map_err(|_| "timestamp not numeric")?;
    if t.abs_diff(now()) > 300 {
        return Err("timestamp too old");
    }
    Ok(())
}

async fn receive(State(rx): State<Receiver>, headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
    let signature = header(&headers, "x-beian-signature");
    let timestamp = header(&headers, "x-beian-timestamp");
    if let Some(secret) = rx.secret {
        if let Err(why) = verify(secret, timestamp.as_deref(), signature.as_deref(), &body) {
            return (StatusCode::UNAUTHORIZED, why);
        }
    }
    if header(&headers, "content-type").as_deref() != Some("application/json") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "JSON expected");
    }
    let payload = serde_json::from_slice(&body).expect("JSON body");
    rx.seen.lock().expect("lock").push(Seen {
        payload,
        body: body.to_vec(),
        signature,
        timestamp,
        event: header(&headers, "x-beian-event"),
        event_id: header(&headers, "x-beian-event-id"),
    });
    (rx.status, "ok")
}

async fn start(secret: Option<&'static str>, status: StatusCode) -> (Running<()>, Receiver) {
    let rx = Receiver { secret, status, seen: Arc::default() };
    let router = Router::new().route("/hook", post(receive)).with_state(rx.clone());
    (serve_http(router).await, rx)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client")
}

fn payload() -> serde_json::Value {
    serde_json::json!({
        "template": "filed",
        "appid": "wx1234567890abcdef",
        "title": "备案已通过",
        "body": "主体备案号：京ICP备2025000001号",
    })
}

fn delivery(url: &str, secret: Option<&str>) -> WebhookDelivery {
    WebhookDelivery {
        url: url.to_string(),
        secret: secret.map(str::to_string),
        event: "filed".into(),
        event_id: "evt_42".into(),
        payload: payload(),
    }
}

#[tokio::test]
async fn signed_payload_verifies_and_a_changed_timestamp_does_not() {
    let (server, rx) = start(Some(SECRET), StatusCode::OK).await;
    let url = format!("http://{}/hook", server.addr);

    send_webhook(&client(), &delivery(&url, Some(SECRET))).await.expect("delivered");

    let seen = rx.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(s.payload, payload());
    assert_eq!((s.event.as_deref(), s.event_id.as_deref()), (Some("filed"), Some("evt_42")));
    let sig = s.signature.as_deref().expect("signature header");
    assert!(sig.starts_with("v1=") && sig.len() == 3 + 64, "{sig}");
    let ts = s.timestamp.clone().expect("timestamp header");
    assert!(ts.parse::<u64>().expect("numeric").abs_diff(now()) <= 60, "timestamp {ts} is current");

    // The same body and signature under another timestamp (a replay made to look fresh).
    let moved = (ts.parse::<u64>().expect("numeric") + 1).to_string();
    assert_eq!(verify(SECRET, Some(&moved), Some(sig), &s.body), Err("signature mismatch"));
    let replay = client()
        .post(&url)
        .header("content-type", "application/json")
        .header("x-beian-timestamp", &moved)
        .header("x-beian-signature", sig)
        .body(s.body.clone())
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), 401);
    assert_eq!(rx.seen.lock().expect("lock").len(), 1, "the replay was refused");
}

#[tokio::test]
async fn wrong_secret_is_rejected() {
    let (server, rx) = start(Some(SECRET), StatusCode::OK).await;
    let url = format!("http://{}/hook", server.addr);

    let err = send_webhook(&client(), &delivery(&url, Some("not-the-secret"))).await.expect_err("401");
    assert!(
        matches!(&err, NotifyError::Rejected(m) if m.contains("401") && m.contains("signature mismatch")),
        "{err:?}"
    );
    let err = send_webhook(&client(), &delivery(&url, None)).await.expect_err("401");
    assert!(matches!(&err, NotifyError::Rejected(m) if m.contains("signature missing")), "{err:?}");
    assert!(rx.seen.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn unsigned_without_secret() {
    let (server, rx) = start(None, StatusCode::NO_CONTENT).await;
    let url = format!("http://{}/hook", server.addr);

    send_webhook(&client(), &delivery(&url, None)).await.expect("204 is success");

    let seen = rx.seen.lock().expect("lock");
    assert_eq!(seen[0].payload, payload());
    assert!(seen[0].signature.is_none());
}

#[tokio::test]
async fn non_2xx_is_rejected() {
    let (server, _rx) = start(None, StatusCode::SERVICE_UNAVAILABLE).await;
    let url = format!("http://{}/hook", server.addr);
    let err = send_webhook(&client(), &delivery(&url, None)).await.expect_err("503");
    assert!(matches!(&err, NotifyError::Rejected(m) if m.contains("503")), "{err:?}");

    let missing = format!("http://{}/no-such-path", server.addr);
    let err = send_webhook(&client(), &delivery(&missing, None)).await.expect_err("404");
    assert!(matches!(&err, NotifyError::Rejected(m) if m.contains("404")), "{err:?}");
}

#[tokio::test]
async fn unreachable_receiver_is_a_connect_error() {
    let url = format!("http://{}/hook", closed_addr().await);
    let err = send_webhook(&client(), &delivery(&url, Some(SECRET))).await.expect_err("nothing listens");
    assert!(matches!(err, NotifyError::Connect(_)), "{err:?}");
}

/// The test vector in docs/webhooks.md, recomputed: the doc's secret, timestamp and body
/// give the doc's signature.
#[test]
fn docs_test_vector() {
    let doc = include_str!("../../../../docs/webhooks.md");
    let field = |name: &str| -> String {
        let start = doc.find(&format!("<!-- {name} -->")).unwrap_or_else(|| panic!("{name} marker"));
        let rest = &doc[start..];
        let open = rest.find("```text\n").expect("code block") + "```text\n".len();
        let close = rest[open..].find("\n```").expect("block end");
        rest[open..open + close].to_string()
    };
    let (secret, ts, body, sig) = (field("secret"), field("timestamp"), field("body"), field("signature"));
    assert_eq!(signature_v1(&secret, &ts, body.as_bytes()).expect("hmac"), sig);
    assert_eq!(verify(&secret, Some(&ts), Some(&sig), body.as_bytes()), Err("timestamp too old"));
}
