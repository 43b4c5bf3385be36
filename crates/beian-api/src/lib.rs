//! The WeChat-compatible service-provider API (`/cgi-bin/component/*`, `/wxa/icp/*`,
//! `/wxa/sec/*`), the merchant authorization page, the admin's face-verification page, and
//! the API's OpenAPI document.
//!
//! Wire rules (wechat-icp-api.md §1): every JSON answer is HTTP 200 with `errcode`/`errmsg`,
//! errors append ` rid: …` to `errmsg`; input is as tolerant as WeChat's server (JSON with
//! or without Content-Type, empty bodies, upload fields in form or query string).
//!
//! This crate never touches SQL or the network: it parses, calls `beian-service`, and answers.

mod component;
mod icp;
mod limits;
mod mask;
pub mod openapi;
mod pages;
mod staff;
mod wire;

use axum::Router;
use beian_service::Service;
use std::sync::Arc;

pub use limits::RateLimiter;

/// Knobs of the API edge.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Calls per mini program per endpoint per minute before `45011`.
    pub per_minute_limit: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { per_minute_limit: 600 }
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub svc: Arc<Service>,
    pub limiter: Arc<RateLimiter>,
}

/// All routes of the API edge.
pub fn router(svc: Arc<Service>, config: ApiConfig) -> Router {
    let state = AppState { svc, limiter: Arc::new(RateLimiter::new(config.per_minute_limit)) };
    Router::new()
        .merge(component::routes())
        .merge(icp::routes())
        .merge(pages::routes())
        .merge(openapi::routes())
        .merge(staff::routes())
        .with_state(state)
}
