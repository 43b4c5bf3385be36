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
pub mod limits;
mod mask;
pub mod openapi;
mod pages;
pub mod parse;
mod staff;
mod wire;

use axum::Router;
use beian_authority_sim::Simulator;
use beian_service::Service;
use std::sync::Arc;

pub use limits::RateLimiter;
pub use wire::WxJson;

/// Knobs of the API edge.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Calls per mini program per endpoint per minute before `45011` (across nodes on
    /// PostgreSQL, within the bound in [`limits`]); 0: no limit. `[limits]
    /// api_calls_per_minute`, `--api-minute-limit`, `BEIAN_API_MINUTE_LIMIT`.
    pub per_minute_limit: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { per_minute_limit: 600 }
    }
}

/// What every handler reads, behind one `Arc`: axum clones the state for each request, so
/// one reference count is touched per request instead of one per field.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    pub svc: Arc<Service>,
    /// The built-in authority simulator, when it is the authority gateway: its verification
    /// page and its settings (absent otherwise, and so are their routes).
    pub sim: Option<Arc<Simulator>>,
    pub limiter: RateLimiter,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// All routes of the API edge, with minute quotas counted on this node only.
pub fn router(svc: Arc<Service>, sim: Option<Arc<Simulator>>, config: ApiConfig) -> Router {
    router_with_counter(svc, sim, config, None)
}

/// All routes of the API edge; `shared`: where the minute quotas are shared between nodes
/// (PostgreSQL), flushed once a second (see [`limits`]).
pub fn router_with_counter(
    svc: Arc<Service>,
    sim: Option<Arc<Simulator>>,
    config: ApiConfig,
    shared: Option<Arc<dyn beian_web::limits::LimitCounter>>,
) -> Router {
    let limiter = match shared {
        Some(counter) => RateLimiter::shared(config.per_minute_limit, counter),
        None => RateLimiter::new(config.per_minute_limit),
    };
    let simulator = sim.is_some();
    let state = AppState(Arc::new(Shared { svc, sim, limiter }));
    let mut r = Router::new()
        .merge(component::routes())
        .merge(icp::routes())
        .merge(pages::routes())
        .merge(openapi::routes())
        .merge(staff::routes());
    if simulator {
        r = r.merge(pages::simulator_routes()).merge(staff::simulator_routes());
    }
    r.layer(axum::middleware::from_fn(wechat_rejections)).with_state(state)
}

/// Extractor rejections (body too large, unreadable body) answer in the wire format too:
/// HTTP 200 with an errcode on the WeChat surface, JSON with errcode on the staff API.
async fn wechat_rejections(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let status = resp.status();
    let plain_bad_request = status == StatusCode::BAD_REQUEST
        && resp
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    let rejected = matches!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::UNPROCESSABLE_ENTITY
    );
    if !rejected && !plain_bad_request {
        return resp;
    }
    let (code, msg) = match status {
        StatusCode::PAYLOAD_TOO_LARGE if path.ends_with("upload_icp_media") => (
            beian_core::errcode::INVALID_MEDIA_SIZE,
            "invalid media size: 文件过大，图片不超过5MB，视频不超过50MB",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (beian_core::errcode::DATA_FORMAT_ERROR, "data format error: 请求体过大（上限2MB）")
        }
        _ => (beian_core::errcode::DATA_FORMAT_ERROR, "data format error: 请求体无法解析"),
    };
    if path.starts_with("/api/") {
        return (status, axum::Json(serde_json::json!({ "errcode": code, "errmsg": msg }))).into_response();
    }
    wire::err(code, msg).into_response()
}
