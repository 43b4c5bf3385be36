//! Sign-in, sessions (HttpOnly cookie), CSRF, and the "who may see this" checks.

use crate::html::{error_box, layout};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use beian_service::accounts::Session;
use maud::{html, Markup};

pub const COOKIE: &str = "beian_session";

/// application/x-www-form-urlencoded pairs (repeated keys kept).
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
    cookie(headers, COOKIE)
}

/// The value of the cookie `name`, if set and not empty.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_string())
        })
}

/// The signed-in session, if any.
pub async fn current(s: &AppState, headers: &HeaderMap) -> Option<(String, Session)> {
    let token = cookie_token(headers)?;
    match s.svc.accounts().session(&token).await {
        Ok(Some(sess)) => Some((token, sess)),
        _ => None,
    }
}

/// The session, or a redirect to the sign-in page that comes back to `next`.
pub async fn require(s: &AppState, headers: &HeaderMap, next: &str) -> Result<Session, Response> {
    match current(s, headers).await {
        Some((_, sess)) => Ok(sess),
        None => Err(Redirect::to(&format!("/console/login?next={}", encode(next))).into_response()),
    }
}

/// POST forms must carry the session's CSRF token.
pub fn check_csrf(sess: &Session, token: &str) -> Result<(), Response> {
    if !token.is_empty() && beian_web::same_secret(token, &sess.csrf) {
        Ok(())
    } else {
        Err((
            StatusCode::FORBIDDEN,
            layout(
                "请求已失效",
                Some(sess),
                0,
                html! { div.error-box { "页面已过期或请求来源不明（CSRF 校验失败），请返回重新操作。" } },
            ),
        )
            .into_response())
    }
}

pub fn encode(s: &str) -> String {
    beian_web::url_encode(s, true)
}

/// Only console paths of this origin are followed after sign-in: `/console…`, one leading
/// `/`, no `//` or backslash anywhere (browsers read `/\host` and `//host` as another
/// origin), no whitespace or control characters (CR/LF would split the `Location` header).
/// Anything else goes to `/console` (no open redirect, no header injection).
pub(crate) fn safe_next(next: &str) -> String {
    let ok = next.starts_with("/console")
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && next.len() <= 2048;
    if ok {
        next.to_string()
    } else {
        "/console".into()
    }
}

fn login_form(s: &AppState, next: &str, error: Option<&str>) -> Markup {
    let oidc = s.svc.sign_in().oidc_label();
    html! {
        div.card {
            h1 { "登录小程序备案后台" }
            @if let Some(e) = error { (error_box(e)) }
            @if let Some(label) = &oidc {
                p { a.btn #oidc-login href=(format!("/console/oidc/start?next={}", encode(next))) { (label) } }
                p.muted { "或使用本地帐号登录：" }
            }
            form method="post" action="/console/login" {
                input type="hidden" name="next" value=(next);
                label.field {
                    span { "用户名" }
                    input type="text" name="username" required autocomplete="username";
                }
                label.field {
                    span { "密码" }
                    input type="password" name="password" required autocomplete="current-password";
                }
                button #login type="submit" { "登录" }
            }
            p { a #forgot href="/console/forgot" { "忘记密码" } }
            p.muted { "连续输错密码5次，帐号将锁定15分钟。" }
        }
    }
}

/// The session cookie for `token`.
pub(crate) fn session_cookie(s: &AppState, token: &str) -> String {
    let secure = if s.svc.public_url().starts_with("https://") { "; Secure" } else { "" };
    format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}{secure}",
        beian_service::accounts::SESSION_TTL_SECS
    )
}

pub async fn login_page(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let next = q
        .as_deref()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("next=")))
        .map(decode)
        .unwrap_or_else(|| "/console".into());
    layout("登录", None, 0, login_form(&s, &safe_next(&next), None)).into_response()
}

pub async fn login(State(s): State<AppState>, headers: HeaderMap, ext: Extensions, body: Bytes) -> Response {
    let f = form(&body);
    let next = safe_next(get(&f, "next"));
    // Per client address, whatever the username: guessing across accounts is limited too.
    let ip = client_ip(&s, &headers, &ext);
    if let Err((retry_after, msg)) = s.limits.login_refused(ip, s.svc.now().timestamp()).await {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after.to_string())],
            layout("登录", None, 0, login_form(&s, &next, Some(&msg))),
        )
            .into_response();
    }
    match s.svc.accounts().login(get(&f, "username"), get(&f, "password")).await {
        Ok((token, _)) => {
            let cookie = session_cookie(&s, &token);
            (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, next)]).into_response()
        }
        Err(beian_service::ServiceError::Refused { errmsg, .. }) => {
            s.limits.login_failed(ip, s.svc.now().timestamp()).await;
            (StatusCode::UNAUTHORIZED, layout("登录", None, 0, login_form(&s, &next, Some(&errmsg))))
                .into_response()
        }
        Err(e) => {
            tracing::error!("login: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                layout("登录", None, 0, login_form(&s, &next, Some("系统繁忙，请稍后再试"))),
            )
                .into_response()
        }
    }
}

pub async fn logout(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some((token, sess)) = current(&s, &headers).await {
        if let Err(r) = check_csrf(&sess, get(&form(&body), "_csrf")) {
            return r;
        }
        // Only a session ended on the server is signed out: otherwise say so, and keep it.
        if let Err(e) = s.svc.accounts().logout(&token).await {
            return crate::html::oops(Some(&sess), e);
        }
    }
    let clear = format!("{COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, clear), (header::LOCATION, "/console/login".to_string())])
        .into_response()
}

/// The "no permission" page, naming who can act (PRODUCT rule 11).
pub fn forbidden(sess: &Session, message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        layout(
            "暂无查看权限",
            Some(sess),
            0,
            html! {
                (error_box(message))
                p { a href="/console" { "返回首页" } }
            },
        ),
    )
        .into_response()
}
