//! HTTP surface of the binary: health, the demo event sink, and the edges' routers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use beian_service::Service;
use std::sync::Arc;

/// `sim`, `desk`: the authority gateway's own pages; the simulator's pages and API (`/miit/verify`, its settings, the clock) are
/// mounted only when it is the gateway, the manual desk's only when it is.
/// `demo`: also mount `/demo/events` (the demo provider's receiver, readable by anyone).
/// `metrics`: who may read `/metrics` (not mounted at all without a token).
/// `limits`: the public query's and the sign-in forms' per-client limits (shared by the
/// console and the staff pages). On PostgreSQL these and the API's minute quotas are counted
/// across nodes through the database ([`crate::limits::SharedCounter`]); on SQLite in memory.
/// `trusted`: `[trusted_header]`, honoured by the console pages only.
#[allow(clippy::too_many_arguments)]
pub fn router(
    svc: Arc<Service>,
    sim: Option<Arc<beian_authority_sim::Simulator>>,
    desk: Option<Arc<beian_authority_desk::ManualDesk>>,
    api: beian_api::ApiConfig,
    limits: &beian_web::limits::WebLimitsConfig,
    demo: bool,
    metrics_access: &crate::metrics::MetricsAccess,
    trusted: Option<beian_console::TrustedHeader>,
) -> Router {
    let shared: Option<Arc<dyn beian_web::limits::LimitCounter>> =
        svc.operations().rate_counts_shared().then(|| {
            Arc::new(crate::limits::SharedCounter::new(svc.clone()))
                as Arc<dyn beian_web::limits::LimitCounter>
        });
    let limits = Arc::new(match &shared {
        Some(counter) => beian_web::limits::WebLimits::with_counter(limits, counter.clone()),
        None => beian_web::limits::WebLimits::new(limits),
    });
    let mut r = Router::new().route("/healthz", get(healthz));
    if demo {
        r = r.route("/demo/events", axum::routing::post(demo_events).get(demo_events_list));
    }
    let metrics = crate::metrics::Metrics::default();
    let mut r = r
        .route("/", get(|| async { axum::response::Redirect::to("/console") }))
        .with_state(svc.clone())
        .merge(beian_console::router(svc.clone(), limits.clone(), trusted))
        .merge(beian_admin::router(svc.clone(), sim.clone(), desk, limits))
        .merge(beian_api::router_with_counter(svc.clone(), sim, api, shared))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(metrics.clone(), crate::metrics::track));
    if metrics_access.enabled() {
        r = r.merge(Router::new().route("/metrics", get(crate::metrics::render)).with_state((
            metrics,
            svc,
            metrics_access.clone(),
        )));
    }
    r.layer(axum::middleware::from_fn(catch_panic))
}

/// An address nothing answers: a Chinese page for people; API paths keep an empty 404 (their
/// clients read status codes, not pages).
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    let api = ["/wxa/", "/cgi-bin/", "/api/"].iter().any(|p| uri.path().starts_with(p));
    if api {
        return StatusCode::NOT_FOUND.into_response();
    }
    let page = beian_web::not_found_page().into_string();
    (StatusCode::NOT_FOUND, [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], page)
        .into_response()
}

/// A safety net, not a fix: a handler that panics answers a logged 500 instead of taking the
/// process down with it. (A stack overflow aborts regardless, which is why inputs are bounded
/// where they are read.)
async fn catch_panic(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use futures_util::FutureExt;
    // Kept for the log line only; cloning the URI shares its bytes (no allocation per request).
    let method = req.method().clone();
    let uri = req.uri().clone();
    match std::panic::AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            tracing::error!(%method, path = uri.path(), "handler panicked: {what}");
            (StatusCode::INTERNAL_SERVER_ERROR, "系统错误，请稍后再试").into_response()
        }
    }
}

/// Liveness plus a database round trip: 200 `{"status":"ok"}` or 503.
async fn healthz(State(svc): State<Arc<Service>>) -> impl IntoResponse {
    match svc.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))),
        Err(e) => {
            tracing::error!("health check failed: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "unavailable" })))
        }
    }
}

/// The demo provider's event URL: accepts every push (`success`) and keeps the last 50,
/// decrypted, for `GET /demo/events` — so a person trying the API without a receiver of their
/// own can read the component_verify_ticket. A real provider runs its own receiver (see
/// beian-client's `EventReceiver`).
async fn demo_events(State(svc): State<Arc<Service>>, body: String) -> &'static str {
    let appid = beian_wxcrypt::xml_field(&body, "AppId").unwrap_or_default();
    let encrypt = beian_wxcrypt::xml_field(&body, "Encrypt").unwrap_or_default();
    let opened = match svc.providers().provider(&appid).await {
        Ok(p) => beian_wxcrypt::WxCrypt::new(&p.msg_token, &p.encoding_aes_key, &p.component_appid)
            .and_then(|c| c.decrypt(&encrypt))
            .unwrap_or_else(|e| format!("(cannot decrypt: {e})")),
        Err(_) => "(unknown provider)".into(),
    };
    let mut log = DEMO_EVENTS.lock().unwrap_or_else(|p| p.into_inner());
    log.push_front(opened);
    log.truncate(50);
    "success"
}

static DEMO_EVENTS: std::sync::Mutex<std::collections::VecDeque<String>> =
    std::sync::Mutex::new(std::collections::VecDeque::new());

async fn demo_events_list() -> Json<serde_json::Value> {
    let log = DEMO_EVENTS.lock().unwrap_or_else(|p| p.into_inner());
    Json(serde_json::json!({ "events": log.iter().collect::<Vec<_>>() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_router_keeps_serving() {
        let app = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("deliberate")
                    } else {
                        "never"
                    }
                }),
            )
            .route("/ok", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(catch_panic));
        let req =
            |p: &str| axum::http::Request::builder().uri(p).body(axum::body::Body::empty()).expect("request");
        let r = app.clone().oneshot(req("/boom")).await.expect("answer");
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let r = app.oneshot(req("/ok")).await.expect("answer");
        assert_eq!(r.status(), StatusCode::OK);
    }
}
