//! `send_sms` against an axum receiver playing the SMS gateway adapter.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use beian_jobs::notify::{send_sms, HttpSmsConfig, NotifyError};
use beian_testkit::servers::{closed_addr, serve_http, Running};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const API_KEY: &str = "test-key-123";
const TEXT: &str = "您的小程序备案已通过。";

/// What the receiver answers once the request passed its checks.
#[derive(Clone, Copy)]
enum Answer {
    Ok0,
    PlainOk,
    ServerError,
    Code1,
    Slow,
}

/// One request that passed the receiver's checks: its `Authorization` header and JSON body.
type Seen = (Option<String>, serde_json::Value);

#[derive(Clone)]
struct Gateway {
    answer: Answer,
    /// When set, requests must carry `Authorization: Bearer <key>`.
    key: Option<&'static str>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn gateway(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let auth = headers.get("authorization").map(|v| v.to_str().expect("ASCII header").to_string());
    if let Some(key) = gw.key {
        if auth.as_deref() != Some(&format!("Bearer {key}")) {
            return (StatusCode::UNAUTHORIZED, r#"{"code":401,"msg":"bad token"}"#.into());
        }
    }
    let ct = headers.get("content-type").map(|v| v.to_str().expect("ASCII header"));
    if ct != Some("application/json") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "JSON expected".into());
    }
    let json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return (StatusCode::BAD_REQUEST, "bad JSON".into()),
    };
    gw.seen.lock().expect("lock").push((auth, json));
    match gw.answer {
        Answer::Ok0 => (StatusCode::OK, r#"{"code":0,"msg":"sent"}"#.into()),
        Answer::PlainOk => (StatusCode::OK, "OK".into()),
        Answer::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, "vendor unavailable".into()),
        Answer::Code1 => (StatusCode::OK, r#"{"code":1,"msg":"daily quota exceeded"}"#.into()),
        Answer::Slow => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            (StatusCode::OK, "late".into())
        }
    }
}

async fn start(answer: Answer, key: Option<&'static str>) -> (Running<()>, Gateway) {
    let gw = Gateway { answer, key, seen: Arc::default() };
    let router = Router::new().route("/sms/send", post(gateway)).with_state(gw.clone());
    (serve_http(router).await, gw)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client")
}

fn config(addr: std::net::SocketAddr, key: Option<&str>, sign: Option<&str>) -> HttpSmsConfig {
    HttpSmsConfig {
        url: format!("http://{addr}/sms/send"),
        api_key: key.map(Into::into),
        sign_name: sign.map(Into::into),
    }
}

#[tokio::test]
async fn sends_json_with_bearer_token() {
    let (server, gw) = start(Answer::Ok0, Some(API_KEY)).await;
    let cfg = config(server.addr, Some(API_KEY), Some("备案平台"));

    send_sms(&client(), &cfg, "13800138000", TEXT).await.expect("sent");

    let seen = gw.seen.lock().expect("lock");
    assert_eq!(seen.len(), 1);
    let (auth, json) = &seen[0];
    assert_eq!(auth.as_deref(), Some("Bearer test-key-123"));
    assert_eq!(json, &serde_json::json!({"phone": "13800138000", "text": TEXT, "sign_name": "备案平台"}));
}

#[tokio::test]
async fn without_key_and_sign_name() {
    let (server, gw) = start(Answer::PlainOk, None).await;
    let cfg = config(server.addr, None, None);

    send_sms(&client(), &cfg, "+86 13800138000", TEXT).await.expect("sent");

    let seen = gw.seen.lock().expect("lock");
    let (auth, json) = &seen[0];
    assert!(auth.is_none(), "no Authorization header without api_key");
    assert_eq!(json, &serde_json::json!({"phone": "+86 13800138000", "text": TEXT}));
}

#[tokio::test]
async fn wrong_key_is_rejected() {
    let (server, gw) = start(Answer::Ok0, Some(API_KEY)).await;
    let cfg = config(server.addr, Some("wrong"), None);

    let err = send_sms(&client(), &cfg, "13800138000", TEXT).await.expect_err("401");
    assert!(matches!(&err, NotifyError::Rejected(m) if m.contains("401")), "{err:?}");
    assert!(gw.seen.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn server_error_is_rejected() {
    let (server, _gw) = start(Answer::ServerError, None).await;
    let cfg = config(server.addr, None, None);

    let err = send_sms(&client(), &cfg, "13800138000", TEXT).await.expect_err("500");
    match &err {
        NotifyError::Rejected(m) => {
            assert!(m.contains("500"), "{m}");
            assert!(m.contains("vendor unavailable"), "{m}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn nonzero_code_is_rejected() {
    let (server, gw) = start(Answer::Code1, Some(API_KEY)).await;
    let cfg = config(server.addr, Some(API_KEY), None);

    let err = send_sms(&client(), &cfg, "13800138000", TEXT).await.expect_err("code 1");
    assert!(
        matches!(&err, NotifyError::Rejected(m) if m.contains("code 1") && m.contains("daily quota exceeded")),
        "{err:?}"
    );
    assert_eq!(gw.seen.lock().expect("lock").len(), 1, "the request did arrive");
}

#[tokio::test]
async fn slow_gateway_times_out() {
    let (server, _gw) = start(Answer::Slow, None).await;
    let cfg = config(server.addr, None, None);
    let http = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().expect("client");

    let err = send_sms(&http, &cfg, "13800138000", TEXT).await.expect_err("timeout");
    assert!(matches!(err, NotifyError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn unreachable_gateway_is_a_connect_error() {
    let cfg = config(closed_addr().await, None, None);
    let err = send_sms(&client(), &cfg, "13800138000", TEXT).await.expect_err("nothing listens");
    assert!(matches!(err, NotifyError::Connect(_)), "{err:?}");
}

#[tokio::test]
async fn bad_input_is_refused_before_sending() {
    let (server, gw) = start(Answer::Ok0, None).await;
    let cfg = config(server.addr, None, None);
    for (phone, text) in [("1380013800\r\n0", TEXT), ("abc", TEXT), ("13800138000", "  ")] {
        let err = send_sms(&client(), &cfg, phone, text).await.expect_err("invalid");
        assert!(matches!(err, NotifyError::InvalidInput(_)), "{phone:?}: {err:?}");
    }
    assert!(gw.seen.lock().expect("lock").is_empty());
}
