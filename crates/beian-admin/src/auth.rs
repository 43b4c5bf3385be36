//! Staff sign-in with the API token, the session cookie, CSRF and role checks.
//!
//! The API token is only read from the sign-in form: the cookie holds a session token of its
//! own (`beian_service::staff_sessions`), whose CSRF token every POST here carries — sign-out
//! included. Sign-out deletes the session on the server.

use crate::html::{error_box, layout};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use beian_core::platform::{Role, Staff};
use beian_service::staff_sessions::{csrf_matches, StaffSession, STAFF_SESSION_TTL_SECS};
use maud::{html, Markup};

const COOKIE: &str = "beian_staff";

pub fn form(body: &Bytes) -> Vec<(String, String)> {
    beian_web::form_pairs(body)
}

pub use beian_web::url_decode as decode;

pub use beian_web::form_get as get;

/// The client's address as the limits count it (see `beian_web::limits`).
pub(crate) fn client_ip(s: &AppState, headers: &HeaderMap, ext: &Extensions) -> Option<std::net::IpAddr> {
    let peer = ext.get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    s.limits.client_ip(peer, |name| headers.get(name).and_then(|v| v.to_str().ok()))
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == COOKIE && !v.is_empty()).then(|| v.to_string())
        })
}

/// The session token from the cookie and its live session.
async fn current(s: &AppState, headers: &HeaderMap) -> Option<(String, StaffSession)> {
    let token = cookie_token(headers)?;
    match s.svc.review().staff_session(&token).await {
        Ok(Some(sess)) => Some((token, sess)),
        Ok(None) => None,
        Err(e) => {
            tracing::error!("staff session: {e}");
            None
        }
    }
}

/// Signed in with at least `role` (operators may do what reviewers do), or a redirect /
/// a 403 page.
pub async fn require(s: &AppState, headers: &HeaderMap, role: Role) -> Result<(Staff, String), Response> {
    let Some((_, StaffSession { staff, csrf })) = current(s, headers).await else {
        return Err(Redirect::to("/admin/login").into_response());
    };
    if role == Role::Operator && staff.role != Role::Operator {
        return Err((
            StatusCode::FORBIDDEN,
            layout(
                "无权访问",
                Some((&staff, &csrf)),
                error_box("此页面仅限运营人员访问。审核员请使用审核队列。"),
            ),
        )
            .into_response());
    }
    Ok((staff, csrf))
}

pub fn check_csrf(staff: &Staff, csrf: &str, f: &[(String, String)]) -> Result<(), Response> {
    if csrf_matches(csrf, get(f, "_csrf")) {
        return Ok(());
    }
    Err((
        StatusCode::FORBIDDEN,
        layout(
            "请求已失效",
            Some((staff, csrf)),
            html! { div.error-box { "页面已过期或请求来源不明（CSRF 校验失败），请返回重新操作。" } },
        ),
    )
        .into_response())
}

fn login_form(error: Option<&str>) -> Markup {
    html! {
        div.card {
            h1 { "审核与运营后台" }
            @if let Some(e) = error { (error_box(e)) }
            form method="post" action="/admin/login" {
                label.field {
                    span { "API 令牌" }
                    small { "由 beian staff add 生成，只显示一次。" }
                    input type="password" name="token" required autocomplete="off";
                }
                button #login type="submit" { "登录" }
            }
        }
    }
}

pub async fn login_page() -> Response {
    layout("登录", None, login_form(None)).into_response()
}

pub async fn login(
    axum::extract::State(s): axum::extract::State<AppState>,
    headers: HeaderMap,
    ext: Extensions,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let token = get(&f, "token").trim().to_string();
    // Tokens cannot be guessed, but a client trying many is refused all the same.
    let ip = client_ip(&s, &headers, &ext);
    if let Err((retry_after, msg)) = s.limits.login_refused(ip, s.svc.now().timestamp()).await {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after.to_string())],
            layout("登录", None, login_form(Some(&msg))),
        )
            .into_response();
    }
    match s.svc.review().staff_sign_in(&token).await {
        Ok((session, _)) => {
            let secure = if s.svc.public_url().starts_with("https://") { "; Secure" } else { "" };
            let cookie = format!(
                "{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age={STAFF_SESSION_TTL_SECS}{secure}"
            );
            (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/admin".to_string())])
                .into_response()
        }
        Err(beian_service::ServiceError::Refused { .. }) => {
            s.limits.login_failed(ip, s.svc.now().timestamp()).await;
            (StatusCode::UNAUTHORIZED, layout("登录", None, login_form(Some("令牌无效")))).into_response()
        }
        Err(e) => {
            tracing::error!("staff sign-in: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, layout("登录", None, login_form(Some("系统繁忙，请稍后再试"))))
                .into_response()
        }
    }
}

/// Sign out: only with the session's CSRF token (a cross-site form cannot sign anyone out);
/// the session is deleted, so a copy of the cookie stops working too. Without a live session
/// there is nothing to end: the cookie is cleared all the same.
pub async fn logout(
    axum::extract::State(s): axum::extract::State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some((token, sess)) = current(&s, &headers).await {
        if let Err(r) = check_csrf(&sess.staff, &sess.csrf, &form(&body)) {
            return r;
        }
        if let Err(e) = s.svc.review().staff_sign_out(&token, &sess).await {
            tracing::error!("staff sign-out: {e}");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                layout(
                    "退出失败",
                    Some((&sess.staff, &sess.csrf)),
                    error_box("系统繁忙，未能退出登录，请稍后重试。"),
                ),
            )
                .into_response();
        }
    }
    let clear = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, clear), (header::LOCATION, "/admin/login".to_string())])
        .into_response()
}
