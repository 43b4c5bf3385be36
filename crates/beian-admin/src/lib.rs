//! Staff pages (reviewers and operators) and the public filing query, zh-CN, server-rendered.
//!
//! Staff sign in at `/admin/login` with their API token (`beian staff add`); the page opens a
//! server-side session (12 h, 30 min idle, deleted at sign-out) whose random token is the
//! HttpOnly cookie — never the API token — and every form carries the session's CSRF token. Reviewers reach `/admin/review*`; operators also reach `/admin/ops*`, `/admin/accounts` (developer accounts), the
//! dashboard and, when the manual desk is the authority gateway, `/admin/desk*` (filing with
//! the authority is operations work: reviewers decide the platform's first review only). The public query (`/query`, `/api/public/query`) needs no sign-in and shows only
//! filed records with personal data masked. Nothing is loaded from another origin.

// Handlers bail out with a ready `Response`; boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod accounts;
mod auth;
mod dashboard;
mod desk;
mod html;
mod ops;
mod public;
mod review;
mod rules;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use beian_service::Service;
use beian_web::limits::WebLimits;
use std::sync::Arc;

#[derive(Clone)]
pub(crate) struct AppState {
    pub svc: Arc<Service>,
    /// The built-in authority simulator, when it is the gateway (its settings and clock on
    /// the operator page; absent otherwise, and so are their routes).
    pub sim: Option<Arc<beian_authority_sim::Simulator>>,
    /// The manual desk, when it is the gateway (`/admin/desk`).
    pub desk: Option<Arc<beian_authority_desk::ManualDesk>>,
    /// Public queries and failed sign-ins per client address.
    pub limits: Arc<WebLimits>,
}

/// `limits`: the node's per-client limits, shared with the console's sign-in. `sim`, `desk`:
/// whichever is the authority gateway; the other's pages are not mounted.
pub fn router(
    svc: Arc<Service>,
    sim: Option<Arc<beian_authority_sim::Simulator>>,
    desk: Option<Arc<beian_authority_desk::ManualDesk>>,
    limits: Arc<WebLimits>,
) -> Router {
    let mut r = Router::new();
    if sim.is_some() {
        r = r
            .route("/admin/ops/simulator", post(ops::save_simulator))
            .route("/admin/ops/advance", post(ops::advance));
    }
    if desk.is_some() {
        r = r
            .route("/admin/desk", get(desk::list))
            .route("/admin/desk/{id}", get(desk::item))
            .route("/admin/desk/{id}/record", post(desk::record));
    }
    r.route("/admin", get(review::queue))
        .route("/admin/login", get(auth::login_page).post(auth::login))
        .route("/admin/dashboard", get(dashboard::page))
        .route("/admin/dashboard.csv", get(dashboard::csv))
        .route("/query", get(public::page))
        .route("/api/public/query", get(public::api))
        .route("/admin/logout", post(auth::logout))
        .route("/admin/review/{appid}", get(review::review_page))
        .route("/admin/review/{appid}/claim", post(review::claim))
        .route("/admin/review/{appid}/approve", post(review::approve))
        .route("/admin/review/{appid}/reject", post(review::reject))
        .route("/admin/review/{appid}/media/{media_id}", get(review::media))
        .route("/admin/ops", get(ops::home))
        .route("/admin/accounts", get(accounts::list).post(accounts::create))
        .route("/admin/accounts/{id}/{action}", post(accounts::set_state))
        .route("/admin/ops/policy", post(ops::save_policy))
        .route("/admin/ops/providers", get(ops::providers).post(ops::create_provider))
        .route("/admin/ops/providers/{id}/rotate", post(ops::rotate_provider))
        .route("/admin/ops/providers/{id}/url", post(ops::provider_url))
        .route("/admin/ops/reasons", get(ops::reasons).post(ops::save_reason))
        .route("/admin/ops/dictionaries", get(ops::dictionaries).post(ops::publish_dictionary))
        .route("/admin/ops/calendar", get(ops::calendar).post(ops::upload_calendar))
        .route("/admin/ops/calendar/reload", post(ops::reload_calendar))
        .route("/admin/ops/rules", get(rules::page).post(rules::publish))
        .route("/admin/ops/rules.json", get(rules::download))
        .route("/admin/ops/jobs", get(ops::jobs))
        .route("/admin/ops/jobs/{id}/{action}", post(ops::job_action))
        .route("/admin/ops/audit", get(ops::audit))
        .route("/admin/ops/sms", get(ops::sms))
        .route("/admin/tickets", get(ops::tickets))
        .route("/admin/tickets/{id}", get(ops::ticket))
        .route("/admin/tickets/{id}/reply", post(ops::reply))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(AppState { svc, sim, desk, limits })
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
