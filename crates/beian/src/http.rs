//! HTTP surface of the binary: health, the demo event sink, and the edges' routers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use beian_service::Service;
use std::sync::Arc;

pub fn router(svc: Arc<Service>, api: beian_api::ApiConfig) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/demo/events", axum::routing::post(demo_events))
        .with_state(svc.clone())
        .merge(beian_api::router(svc, api))
}

/// Liveness plus a database round trip: 200 `{"status":"ok"}` or 503.
async fn healthz(State(svc): State<Arc<Service>>) -> impl IntoResponse {
    match svc.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))),
        Err(e) => {
            tracing::error!("health check failed: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "unavailable" })))
        }
    }
}

/// The demo provider's event URL: accepts every push (`success`) so the demo's job queue
/// stays clean. A real provider runs its own receiver (see beian-client's `EventReceiver`).
async fn demo_events(body: String) -> &'static str {
    tracing::debug!(bytes = body.len(), "demo event sink received a push");
    "success"
}
