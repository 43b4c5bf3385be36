//! The developer console (开发者后台), zh-CN, server-rendered: sign in (password, the host
//! platform's OpenID provider, a trusted proxy header; 忘记密码 — see `signin`), home with the
//! "小程序需补充备案信息" banner, the filing wizard with inline rules, the commitment letter,
//! the status timeline, change filing (变更备案) beside the filed record, the filing's history,
//! 接入已有备案 and 取消接入 (`access`), 站内信, authorized service providers, members and
//! invitations (成员管理), the webhook with its delivery log, and support tickets (工单).
//!
//! Every page works without JavaScript (`/console/static/console.js` only enhances: cascading
//! region selects, counters, copy buttons). Nothing is loaded from another origin. Every form
//! carries the session's CSRF token; every response has security headers. The console calls
//! only `beian-service`.

// Handlers bail out with a ready `Response`; boxing it would only add noise.
#![allow(clippy::result_large_err)]

/// The value of a service call, or (returned from the handler) the error page for it: a
/// failed read is shown to the person, never replaced by an empty default.
macro_rules! or_page {
    ($e:expr, $sess:expr) => {
        match $e {
            Ok(x) => x,
            Err(e) => return crate::html::oops(Some($sess), e),
        }
    };
}

mod access;
mod auth;
mod history;
mod html;
mod members;
mod pages;
pub mod parse;
mod signin;
mod webhooks;
pub use signin::TrustedHeader;
mod wizard;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use beian_service::Service;
use beian_web::limits::WebLimits;
use std::sync::Arc;

#[derive(Clone)]
pub(crate) struct AppState {
    pub svc: Arc<Service>,
    /// Failed sign-ins per client address (shared with the staff sign-in).
    pub limits: Arc<WebLimits>,
    /// `[trusted_header]`, when configured (see `signin`).
    pub trusted: Option<Arc<TrustedHeader>>,
}

/// The largest form body any console page posts (the biggest step has ~30 short fields);
/// more is refused with 413 before a handler reads it.
pub const FORM_BODY_LIMIT: usize = 64 * 1024;
/// The largest upload: an image of the largest size the upload check accepts, plus the form.
pub const UPLOAD_BODY_LIMIT: usize = beian_service::media::MAX_IMAGE_BYTES + 64 * 1024;

/// `trusted`: honour an authenticating proxy's header on these pages (see [`TrustedHeader`]).
pub fn router(svc: Arc<Service>, limits: Arc<WebLimits>, trusted: Option<TrustedHeader>) -> Router {
    let state = AppState { svc, limits, trusted: trusted.map(Arc::new) };
    Router::new()
        .route("/console", get(pages::home))
        .route("/console/login", get(auth::login_page).post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route("/console/oidc/start", get(signin::oidc_start))
        .route("/console/oidc/callback", get(signin::oidc_callback))
        .route("/console/forgot", get(signin::forgot_page).post(signin::forgot))
        .route("/console/reset", get(signin::reset_page).post(signin::reset))
        .route("/console/static/console.css", get(html::css))
        .route("/console/static/console.js", get(html::js))
        .route("/console/districts", get(wizard::districts))
        .route("/console/settings/beian", get(pages::settings_beian))
        .route("/console/apps/{appid}", get(pages::status))
        .route("/console/apps/{appid}/withdraw", post(pages::withdraw))
        .route("/console/apps/{appid}/cancel", post(pages::cancel))
        .route("/console/apps/{appid}/access", get(access::access_page).post(access::submit_access))
        .route(
            "/console/apps/{appid}/cancel-access",
            get(access::cancel_access_page).post(access::submit_cancel_access),
        )
        .route("/console/apps/{appid}/providers", get(pages::providers))
        .route("/console/apps/{appid}/members", get(members::members))
        .route("/console/apps/{appid}/members/add", post(members::add))
        .route("/console/apps/{appid}/members/invite", post(members::invite))
        .route("/console/apps/{appid}/members/{account_id}/perm", post(members::set_perm))
        .route("/console/apps/{appid}/members/{account_id}/remove", post(members::remove))
        .route("/console/invitations/{token}", get(members::invitation).post(members::accept))
        .route("/console/apps/{appid}/providers/revoke", post(pages::revoke_provider))
        .route("/console/apps/{appid}/webhook", get(webhooks::page).post(webhooks::save))
        .route("/console/apps/{appid}/webhook/test", post(webhooks::test))
        .route("/console/apps/{appid}/webhook/deliveries", get(webhooks::deliveries))
        .route("/console/apps/{appid}/webhook/deliveries/{id}/retry", post(webhooks::retry))
        .route("/console/apps/{appid}/filing", get(wizard::step_page))
        .route("/console/apps/{appid}/filing/save", post(wizard::save_step))
        .route(
            "/console/apps/{appid}/filing/upload",
            post(wizard::upload).layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route("/console/apps/{appid}/filing/face", post(wizard::start_face))
        .route("/console/apps/{appid}/filing/submit", post(wizard::submit))
        // 变更备案: the same wizard in change mode (`wizard::Mode::of` reads the path).
        .route("/console/apps/{appid}/change", get(wizard::step_page))
        .route("/console/apps/{appid}/change/save", post(wizard::save_step))
        .route(
            "/console/apps/{appid}/change/upload",
            post(wizard::upload).layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route("/console/apps/{appid}/change/face", post(wizard::start_face))
        .route("/console/apps/{appid}/change/submit", post(wizard::submit))
        .route("/console/apps/{appid}/history", get(history::history))
        .route("/console/apps/{appid}/history/{version}", get(history::version))
        .route("/console/apps/{appid}/media/{media_id}", get(wizard::media))
        .route("/console/apps/{appid}/letter.pdf", get(wizard::letter))
        .route("/console/letter-template.pdf", get(wizard::letter_template))
        .route("/console/messages", get(pages::messages))
        .route("/console/messages/read", post(pages::read_message))
        .route("/console/prefs", post(pages::save_prefs))
        .route("/console/tickets", get(pages::tickets).post(pages::open_ticket))
        .route("/console/tickets/{id}", get(pages::ticket))
        .route("/console/tickets/{id}/reply", post(pages::reply_ticket))
        .layer(DefaultBodyLimit::max(FORM_BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state.clone(), signin::trusted_header))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Headers every console page carries: no framing, no sniffing, same-origin only. A body
/// refused for its size gets a page that says the limit.
async fn security_headers(mut r: Response) -> Response {
    if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        let msg = format!(
            "提交的内容过大：表单最多{} KB，上传的图片最多{} MB。请删减内容后重试。",
            FORM_BODY_LIMIT / 1024,
            beian_service::media::MAX_IMAGE_BYTES / 1024 / 1024
        );
        r = (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            html::layout("内容过大", None, 0, html::error_box(&msg)),
        )
            .into_response();
    }
    let h = r.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
