//! `send_webhook` against an axum receiver that verifies the signature by recomputing it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use beian_jobs::notify::{send_webhook, NotifyError};
use beian_testkit::servers::{closed_addr, serve_http, Running};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECRET: &str = "whsec-开发者密钥";

#[derive(Debug)]
struct Seen {
    payload: serde_json::Value,
    signature: Option<String>,
    timestamp: Option<u64>,
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

async fn receive(State(rx): State<Receiver>, headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
    let signature = header(&headers, "x-beian-signature");
    let timestamp =
        header(&headers, "x-beian-timestamp").map(|t| t.parse::<u64>().expect("numeric timestamp"));
    if let Some(secret) = rx.secret {
        // Recompute the HMAC over the raw body and compare in constant time.
        let Some(hex_sig) = signature.as_deref().and_then(|s| s.strip_prefix("sha256=")) else {
            return (StatusCode::UNAUTHORIZED, "signature missing");
        };
        let Ok(sig) = hex::decode(hex_sig) else {
            return (StatusCode::UNAUTHORIZED, "signature not hex");
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(&body);
        if mac.verify_slice(&sig).is_err() {
            return (StatusCode::UNAUTHORIZED, "signature mismatch");
        }
        if timestamp.is_none() {
            return (StatusCode::UNAUTHORIZED, "timestamp missing");
        }
    }
    if header(&headers, "content-type").as_deref() != Some("application/json") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "JSON expected");
    }
    let payload = serde_json::from_slice(&body).expect("JSON body");
    rx.seen.lock().expect("lock").push(Seen { payload, signature, timestamp });
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
        "template": "beian_result",
        "appid": "wx1234567890abcdef",
        "data": {"result": "您的小程序备案已通过。", "icp": "京ICP备2025000001号-1X"},
    })
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}

#[tokio::test]
async fn signed_payload_verifies() {
    let (server, rx) = start(Some(SECRET), StatusCode::OK).await;
    let url = format!("http://{}/hook", server.addr);

    send_webhook(&client(), &url, Some(SECRET), &payload()).await.expect("delivered");

    let seen = rx.seen.lock().expect("lock");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].payload, payload());
    let sig = seen[0].signature.as_deref().expect("signature header");
    assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64, "{sig}");
    let ts = seen[0].timestamp.expect("timestamp header");
    assert!(ts.abs_diff(now()) <= 60, "timestamp {ts} is current");
}

#[tokio::test]
async fn wrong_secret_is_rejected() {
    let (server, rx) = start(Some(SECRET), StatusCode::OK).await;
    let url = format!("http://{}/hook", server.addr);

    let err = send_webhook(&client(), &url, Some("not-the-secret"), &payload()).await.expect_err("401");
    assert!(
        matches!(&err, NotifyError::Rejected(m) if m.contains("401") && m.contains("signature mismatch")),
        "{err:?}"
    );
    let err = send_webhook(&client(), &url, None, &payload()).await.expect_err("401");
    assert!(matches!(&err, NotifyError::Rejected(m) if m.contains("signature missing")), "{err:?}");
    assert!(rx.seen.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn unsigned_without_secret() {
    let (server, rx) = start(None, StatusCode::NO_CONTENT).await;
    let url = format!("http://{}/hook", server.addr);

    send_webhook(&client(), &url, None, &payload()).await.expect("204 is success");

    let seen = rx.seen.lock().expect("lock");
    assert_eq!(seen[0].payload, payload());
    assert!(seen[0].signature.is_none() && seen[0].timestamp.is_none());
}

#[tokio::test]
async fn non_2xx_is_rejected() {
    let (server, _rx) = start(None, StatusCode::SERVICE_UNAVAILABLE).await;
    let url = format!("http://{}/hook", server.addr);
    let err = send_webhook(&client(), &url, None, &payload()).await.expect_err("503");
    assert!(matches!(&err, NotifyError::Rejected(m) if m.contains("503")), "{err:?}");

    let missing = format!("http://{}/no-such-path", server.addr);
    let err = send_webhook(&client(), &missing, None, &payload()).await.expect_err("404");
    assert!(matches!(&err, NotifyError::Rejected(m) if m.contains("404")), "{err:?}");
}

#[tokio::test]
async fn unreachable_receiver_is_a_connect_error() {
    let url = format!("http://{}/hook", closed_addr().await);
    let err = send_webhook(&client(), &url, Some(SECRET), &payload()).await.expect_err("nothing listens");
    assert!(matches!(err, NotifyError::Connect(_)), "{err:?}");
}
