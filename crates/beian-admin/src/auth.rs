//! Staff sign-in with the API token, the session cookie, CSRF and role checks.

use crate::html::{esc, layout};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use beian_core::platform::{Role, Staff};
use sha2::{Digest, Sha256};

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

/// CSRF token derived from the session token: unguessable without it, no state to keep.
fn csrf_of(token: &str) -> String {
    hex::encode(&Sha256::digest(format!("beian-admin-csrf:{token}").as_bytes())[..16])
}

/// The signed-in staff member and the CSRF token for their forms.
pub async fn current(s: &AppState, headers: &HeaderMap) -> Option<(Staff, String)> {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == COOKIE && !v.is_empty()).then(|| v.to_string())
        })?;
    let staff = s.svc.staff_for_token(&token).await.ok()?;
    Some((staff, csrf_of(&token)))
}

/// Signed in with at least `role` (operators may do what reviewers do), or a redirect /
/// a 403 page.
pub async fn require(s: &AppState, headers: &HeaderMap, role: Role) -> Result<(Staff, String), Response> {
    let Some((staff, csrf)) = current(s, headers).await else {
        return Err(Redirect::to("/admin/login").into_response());
    };
    if role == Role::Operator && staff.role != Role::Operator {
        return Err((
            StatusCode::FORBIDDEN,
            layout(
                "无权访问",
                Some((&staff, &csrf)),
                "<div class=error-box role=alert>此页面仅限运营人员访问。审核员请使用审核队列。</div>",
            ),
        )
            .into_response());
    }
    Ok((staff, csrf))
}

pub fn check_csrf(staff: &Staff, csrf: &str, f: &[(String, String)]) -> Result<(), Response> {
    if get(f, "_csrf") == csrf && !csrf.is_empty() {
        return Ok(());
    }
    Err((
        StatusCode::FORBIDDEN,
        layout(
            "请求已失效",
            Some((staff, csrf)),
            "<div class=error-box>页面已过期或请求来源不明（CSRF 校验失败），请返回重新操作。</div>",
        ),
    )
        .into_response())
}

fn login_form(error: Option<&str>) -> String {
    let error =
        error.map(|e| format!("<div class=error-box role=alert>{}</div>", esc(e))).unwrap_or_default();
    format!(
        "<div class=card><h1>审核与运营后台</h1>{error}<form method=post action=/admin/login>\
         <label class=field><span>API 令牌</span><small>由 beian staff add 生成，只显示一次。</small><input type=password name=token required autocomplete=off></label>\
         <button type=submit id=login>登录</button></form></div>"
    )
}

pub async fn login_page() -> Response {
    layout("登录", None, &login_form(None)).into_response()
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
    if let Err((retry_after, msg)) = s.limits.login_refused(ip, s.svc.now().timestamp()) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after.to_string())],
            layout("登录", None, &login_form(Some(&msg))),
        )
            .into_response();
    }
    match s.svc.staff_for_token(&token).await {
        Ok(_) => {
            let secure = if s.svc.public_url().starts_with("https://") { "; Secure" } else { "" };
            let cookie =
                format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200{secure}");
            (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/admin".to_string())])
                .into_response()
        }
        Err(_) => {
            let _ = s.limits.login_failures.hit(ip, s.svc.now().timestamp());
            (StatusCode::UNAUTHORIZED, layout("登录", None, &login_form(Some("令牌无效")))).into_response()
        }
    }
}

pub async fn logout() -> Response {
    let clear = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, clear), (header::LOCATION, "/admin/login".to_string())])
        .into_response()
}
