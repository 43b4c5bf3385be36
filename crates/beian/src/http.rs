//! HTTP surface of the binary: health and, as the edges land, their routers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use beian_service::Service;
use std::sync::Arc;

pub fn router(svc: Arc<Service>, api: beian_api::ApiConfig) -> Router {
    Router::new().route("/healthz", get(healthz)).with_state(svc.clone()).merge(beian_api::router(svc, api))
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
