//! `POST /api/authority/events`: the bridge's events into the service's inbox (bridge mode
//! only; protocol in `docs/authority-bridge.md`).
//!
//! Signed like the operations beian sends (`X-Beian-Key-Id`, `X-Beian-Timestamp`,
//! `X-Beian-Signature`; any configured key). Answers 200 `{"receipt": "applied" | "ignored" |
//! "duplicate"}`; 401 for a missing or wrong signature or an unknown key; 400 for a timestamp
//! outside the replay window, a body that is not an event envelope (with the field's path), or
//! an event the platform does not accept (`errcode`, Chinese `errmsg`); 503 when the platform
//! cannot answer now (the bridge retries). Never 500 for what a bridge sends. A replay within
//! the window is a duplicate by its event id (the inbox applies an event once).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use beian_authority_bridge::protocol::{
    parse_event, unix_now, BadEvent, ErrorAnswer, EventAnswer, EventEnvelope, Keys, Unauthenticated,
    HEADER_KEY_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use beian_core::errcode;
use beian_ports::authority::Receipt;
use beian_service::{Service, ServiceError};
use std::sync::Arc;

#[derive(Clone)]
struct Inbound {
    svc: Arc<Service>,
    keys: Keys,
    window: u64,
}

/// The route, checking signatures with `keys` and timestamps within `window` seconds.
pub fn router(svc: Arc<Service>, keys: Keys, window: u64) -> Router {
    Router::new().route("/api/authority/events", post(receive)).with_state(Inbound { svc, keys, window })
}

fn answer(status: StatusCode, errcode: i64, errmsg: impl Into<String>, field: Option<String>) -> Response {
    (status, Json(ErrorAnswer { errcode, errmsg: errmsg.into(), field })).into_response()
}

async fn receive(State(s): State<Inbound>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Err(e) =
        s.keys.verify(h(HEADER_KEY_ID), h(HEADER_TIMESTAMP), h(HEADER_SIGNATURE), &body, unix_now(), s.window)
    {
        tracing::warn!("authority event refused: {e}");
        return match e {
            Unauthenticated::Stale => answer(
                StatusCode::BAD_REQUEST,
                errcode::INVALID_INPUT,
                format!("请求时间戳超出允许范围（{} 秒），请重新签名后发送", s.window),
                Some("X-Beian-Timestamp".into()),
            ),
            other => answer(
                StatusCode::UNAUTHORIZED,
                errcode::INVALID_INPUT,
                format!("签名校验失败：{other}"),
                None,
            ),
        };
    }
    let EventEnvelope { event_id, appid, round, event, .. } = match parse_event(&body) {
        Ok(e) => e,
        Err(BadEvent { field, message }) => {
            return answer(StatusCode::BAD_REQUEST, errcode::INVALID_INPUT, message, Some(field))
        }
    };
    match s.svc.filings().receive_authority_event(&event_id, &appid, round, event).await {
        Ok(receipt) => {
            let receipt = match receipt {
                Receipt::Applied => "applied",
                Receipt::Ignored => "ignored",
                Receipt::Duplicate => "duplicate",
            };
            Json(EventAnswer { receipt: receipt.into() }).into_response()
        }
        Err(ServiceError::Refused { errcode, errmsg }) => {
            answer(StatusCode::BAD_REQUEST, errcode, errmsg, None)
        }
        Err(ServiceError::Hints(hints)) => match hints.into_iter().next() {
            Some(h) => answer(StatusCode::BAD_REQUEST, h.errcode, h.errmsg, Some(h.err_field)),
            None => answer(StatusCode::BAD_REQUEST, errcode::INVALID_INPUT, "事件不被接受", None),
        },
        Err(e) => {
            tracing::error!(appid, "authority event: {e}");
            answer(StatusCode::SERVICE_UNAVAILABLE, errcode::SYSTEM_ERROR, "系统繁忙，请稍后重试", None)
        }
    }
}
