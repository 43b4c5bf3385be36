//! Sign-in besides the password form: the host platform's OpenID provider
//! (`/console/oidc/start` → the provider → `/console/oidc/callback`), 忘记密码 (an e-mailed,
//! single-use reset link: `/console/forgot`, `/console/reset`), and the authenticating
//! proxy's trusted header ([`TrustedHeader`], console pages only; the APIs and the staff
//! pages never read it).

use crate::auth::{cookie, form, get, safe_next, session_cookie, COOKIE};
use crate::html::{error_box, layout};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use beian_service::ServiceError;
use maud::html;
use std::collections::HashMap;
use std::net::IpAddr;

/// The cookie that binds a pending OpenID sign-in to this browser (a random key; the state,
/// nonce and PKCE verifier stay on the server under its hash).
pub const OIDC_COOKIE: &str = "beian_oidc";

fn message_page(title: &str, status: StatusCode, body: maud::Markup) -> Response {
    (status, layout(title, None, 0, html! { div.card { h1 { (title) } (body) } })).into_response()
}

fn refusal(e: ServiceError) -> String {
    match e {
        ServiceError::Refused { errmsg, .. } => errmsg,
        other => {
            tracing::error!("sign-in: {other}");
            "系统繁忙，请稍后再试".into()
        }
    }
}

fn secure(s: &AppState) -> &'static str {
    if s.svc.public_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    }
}

/// `GET /console/oidc/start?next=…`: to the provider, with a cookie naming the pending sign-in.
pub async fn oidc_start(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let next = safe_next(q.get("next").map(String::as_str).unwrap_or("/console"));
    match s.svc.sign_in().oidc_begin(&next).await {
        Ok((url, key)) => {
            let cookie = format!(
                "{OIDC_COOKIE}={key}; HttpOnly; SameSite=Lax; Path=/console/oidc; Max-Age={}{}",
                beian_service::signin::OIDC_PENDING_SECS,
                secure(&s)
            );
            (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, url)]).into_response()
        }
        Err(e) => message_page(
            "平台账号登录",
            StatusCode::SERVICE_UNAVAILABLE,
            html! { (error_box(&refusal(e))) p { a href="/console/login" { "返回登录" } } },
        ),
    }
}

/// `GET /console/oidc/callback?code=…&state=…`: the provider sent the browser back.
pub async fn oidc_callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let clear = format!("{OIDC_COOKIE}=; HttpOnly; SameSite=Lax; Path=/console/oidc; Max-Age=0");
    let fail = |msg: &str, status: StatusCode| {
        let mut r = message_page(
            "平台账号登录失败",
            status,
            html! { (error_box(msg)) p { a href="/console/login" { "返回登录" } } },
        );
        if let Ok(v) = HeaderValue::from_str(&clear) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
        r
    };
    if let Some(err) = q.get("error") {
        tracing::info!(error = %err, "the OpenID provider returned an error");
        return fail("平台账号登录未完成（已取消或被拒绝），请重新登录。", StatusCode::UNAUTHORIZED);
    }
    let Some(key) = cookie(&headers, OIDC_COOKIE) else {
        return fail("登录请求已失效，请重新登录", StatusCode::BAD_REQUEST);
    };
    let (code, state) =
        (q.get("code").map(String::as_str).unwrap_or(""), q.get("state").map(String::as_str).unwrap_or(""));
    if code.is_empty() || code.len() > 2048 || state.len() > 512 {
        return fail("登录请求已失效，请重新登录", StatusCode::BAD_REQUEST);
    }
    match s.svc.sign_in().oidc_finish(&key, state, code).await {
        Ok((token, _, next)) => {
            let mut r = (
                StatusCode::SEE_OTHER,
                [(header::SET_COOKIE, session_cookie(&s, &token)), (header::LOCATION, safe_next(&next))],
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&clear) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => fail(&refusal(e), StatusCode::UNAUTHORIZED),
    }
}

fn forgot_form(error: Option<&str>) -> maud::Markup {
    html! {
        div.card {
            h1 { "忘记密码" }
            @if let Some(e) = error { (error_box(e)) }
            p { "输入用户名或帐号绑定的邮箱，我们会把重置密码的链接发到帐号绑定的邮箱。" }
            form method="post" action="/console/forgot" {
                label.field {
                    span { "用户名或邮箱" }
                    input type="text" name="login" required autocomplete="username";
                }
                button #send-reset type="submit" { "发送重置链接" }
            }
            p { a href="/console/login" { "返回登录" } }
        }
    }
}

pub async fn forgot_page() -> Response {
    layout("忘记密码", None, 0, forgot_form(None)).into_response()
}

/// `POST /console/forgot`: the same answer whether or not the account exists. Counted
/// against the client's sign-in budget, so it cannot be used to flood mailboxes.
pub async fn forgot(
    State(s): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let ip = crate::auth::client_ip(&s, &headers, &ext);
    let now = s.svc.now().timestamp();
    if let Err((retry_after, msg)) = s.limits.login_refused(ip, now).await {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after.to_string())],
            layout("忘记密码", None, 0, forgot_form(Some(&msg))),
        )
            .into_response();
    }
    s.limits.login_failed(ip, now).await;
    if let Err(e) = s.svc.sign_in().request_password_reset(get(&f, "login")).await {
        // Logged only: the answer must not differ.
        tracing::error!("password reset request: {e}");
    }
    message_page(
        "忘记密码",
        StatusCode::OK,
        html! {
            div.notice-ok role="status" { (beian_service::signin::RESET_REQUESTED) }
            p { a href="/console/login" { "返回登录" } }
        },
    )
}

fn reset_form(token: &str, error: Option<&str>) -> maud::Markup {
    html! {
        div.card {
            h1 { "设置新密码" }
            @if let Some(e) = error { (error_box(e)) }
            form method="post" action="/console/reset" {
                input type="hidden" name="token" value=(token);
                label.field {
                    span { "新密码（至少8位）" }
                    input type="password" name="password" required minlength="8" autocomplete="new-password";
                }
                label.field {
                    span { "再次输入新密码" }
                    input type="password" name="password2" required minlength="8" autocomplete="new-password";
                }
                button #set-password type="submit" { "设置新密码" }
            }
        }
    }
}

fn invalid_link() -> Response {
    message_page(
        "重置密码",
        StatusCode::BAD_REQUEST,
        html! {
            (error_box("重置链接无效或已过期，请重新申请"))
            p { a href="/console/forgot" { "重新申请" } }
        },
    )
}

pub async fn reset_page(State(s): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let token = q.get("token").map(String::as_str).unwrap_or("");
    match s.svc.sign_in().password_reset_valid(token).await {
        Ok(true) => layout("设置新密码", None, 0, reset_form(token, None)).into_response(),
        Ok(false) => invalid_link(),
        Err(e) => crate::html::oops(None, e),
    }
}

pub async fn reset(State(s): State<AppState>, body: Bytes) -> Response {
    let f = form(&body);
    let token = get(&f, "token");
    if get(&f, "password") != get(&f, "password2") {
        return (
            StatusCode::BAD_REQUEST,
            layout("设置新密码", None, 0, reset_form(token, Some("两次输入的密码不一致"))),
        )
            .into_response();
    }
    match s.svc.sign_in().complete_password_reset(token, get(&f, "password")).await {
        Ok(()) => message_page(
            "密码已重置",
            StatusCode::OK,
            html! {
                div.notice-ok role="status" { "密码已重置，所有已登录的设备均已退出。请使用新密码登录。" }
                p { a href="/console/login" { "去登录" } }
            },
        ),
        Err(ServiceError::Refused { errmsg, .. }) if errmsg.contains("密码") && !errmsg.contains("链接") => {
            (StatusCode::BAD_REQUEST, layout("设置新密码", None, 0, reset_form(token, Some(&errmsg))))
                .into_response()
        }
        Err(ServiceError::Refused { .. }) => invalid_link(),
        Err(e) => crate::html::oops(None, e),
    }
}

/// `[trusted_header]`: an authenticating proxy in front of beian names the signed-in person
/// in a header. Honoured only when the TCP peer is one of `proxies` (never a forwarded
/// address: the proxy is the peer), and only on console pages.
#[derive(Debug, Clone)]
pub struct TrustedHeader {
    pub user_header: String,
    pub name_header: Option<String>,
    pub email_header: Option<String>,
    pub proxies: Vec<ipnet::IpNet>,
}

impl TrustedHeader {
    fn trusts(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        self.proxies.iter().any(|n| n.contains(&peer))
    }
}

/// Middleware on the console router: with a trusted header from an allowed proxy, the
/// request runs as that person (a session is opened, and its cookie set, when the browser
/// has none for that account); otherwise the header is ignored.
pub async fn trusted_header(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(th) = s.trusted.clone() else { return next.run(req).await };
    let peer = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    // A copy: the request (its body is not `Sync`) is not held across the awaits below.
    let headers = req.headers().clone();
    // Names arrive as UTF-8 bytes from most proxies (`to_str` accepts visible ASCII only).
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let Some(user) = header(&th.user_header).map(str::to_string) else { return next.run(req).await };
    if !peer.is_some_and(|p| th.trusts(p)) {
        tracing::warn!(?peer, "trusted header from an address not in [trusted_header] proxies: ignored");
        return next.run(req).await;
    }
    let name = th.name_header.as_deref().and_then(header).map(str::to_string);
    let email = th.email_header.as_deref().and_then(header).map(str::to_string);
    // Already signed in as that person: nothing to do.
    if let Some((_, sess)) = crate::auth::current(&s, &headers).await {
        if s.svc
            .sign_in()
            .is_identity(&sess.account.id, beian_service::signin::TRUSTED_HEADER_ISSUER, &user)
            .await
        {
            return next.run(req).await;
        }
    }
    match s.svc.sign_in().trusted_header_sign_in(&user, name.as_deref(), email.as_deref()).await {
        Ok((token, _)) => {
            // The handler sees the new session; the browser keeps it.
            let others: Vec<String> = headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .map(str::trim)
                .filter(|c| !c.starts_with(&format!("{COOKIE}=")))
                .map(str::to_string)
                .collect();
            let mut cookies = others;
            cookies.push(format!("{COOKIE}={token}"));
            if let Ok(v) = HeaderValue::from_str(&cookies.join("; ")) {
                req.headers_mut().insert(header::COOKIE, v);
            }
            let mut r = next.run(req).await;
            if let Ok(v) = HeaderValue::from_str(&session_cookie(&s, &token)) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => message_page("无法登录", StatusCode::FORBIDDEN, error_box(&refusal(e))),
    }
}
