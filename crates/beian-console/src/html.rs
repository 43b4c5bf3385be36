//! Page layout and form pieces, written with maud (every interpolation escaped).

use axum::http::header;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use beian_core::rules::Hint;
use beian_service::accounts::Session;
use beian_service::ServiceError;
use maud::{html, Markup};

pub async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../static/console.css"))
}

pub async fn js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../static/console.js"))
}

/// The page frame: top navigation with the unread count, then `body`.
pub fn layout(title: &str, session: Option<&Session>, unread: i64, body: Markup) -> Markup {
    let head = html! { link rel="stylesheet" href="/console/static/console.css"; };
    let body = html! {
        header.top {
            a.brand href="/console" { "小程序备案" }
            @if let Some(s) = session {
                button.secondary #menu-toggle type="button" aria-controls="menu" aria-expanded="false" { "菜单" }
                div.menu #menu {
                    nav aria-label="主菜单" {
                        a href="/console" { "首页" }
                        a href="/console/messages" {
                            "站内信"
                            @if unread > 0 { " " span.badge { (unread) } }
                        }
                        a href="/console/tickets" { "工单" }
                    }
                    span.muted.who { (s.account.display_name) }
                    form method="post" action="/console/logout" {
                        (csrf_field(s))
                        button.secondary type="submit" { "退出" }
                    }
                }
            }
        }
        main { (body) }
        script src="/console/static/console.js" defer {}
    };
    beian_web::document(title, "小程序备案", head, body)
}

pub fn csrf_field(s: &Session) -> Markup {
    html! { input type="hidden" name="_csrf" value=(s.csrf); }
}

/// An alert box with one message.
pub fn error_box(message: &str) -> Markup {
    html! { div.error-box role="alert" { (message) } }
}

/// Text whose line breaks show as `<br>` (each line escaped).
pub fn multiline(text: &str) -> Markup {
    html! {
        @for (i, line) in text.split('\n').enumerate() {
            @if i > 0 { br; }
            (line)
        }
    }
}

/// The hints of one field, and whether the field was rejected by a reviewer.
pub struct FieldState<'a> {
    pub hints: Vec<&'a Hint>,
    pub rejected: Option<String>,
}

pub fn field_state<'a>(path: &str, hints: &'a [Hint], rejected: &[(String, String)]) -> FieldState<'a> {
    FieldState {
        hints: hints
            .iter()
            .filter(|h| h.err_field == path || h.err_field.starts_with(&format!("{path}.")))
            .collect(),
        rejected: rejected.iter().find(|(p, _)| p == path).map(|(_, why)| why.clone()),
    }
}

/// A labelled input with its rule hints shown in place.
pub fn input(path: &str, label: &str, value: &str, kind: &str, help: &str, st: &FieldState<'_>) -> Markup {
    let control = match kind {
        "textarea" => html! { textarea name=(path) data-count="20-200字" { (value) } },
        _ => html! { input type=(kind) name=(path) value=(value) autocomplete="off"; },
    };
    wrap(path, label, control, help, st)
}

pub fn select(
    path: &str,
    label: &str,
    options: &[(String, String)],
    value: &str,
    help: &str,
    st: &FieldState<'_>,
    region: &str,
) -> Markup {
    let control = html! {
        select name=(path) data-region=[(!region.is_empty()).then_some(region)] {
            option value="" selected[value.is_empty()] { "请选择" }
            @for (v, t) in options {
                option value=(v) selected[v == value] { (t) }
            }
        }
    };
    wrap(path, label, control, help, st)
}

pub fn wrap(path: &str, label: &str, control: Markup, help: &str, st: &FieldState<'_>) -> Markup {
    let mut class = String::from("field");
    if !st.hints.is_empty() {
        class.push_str(" invalid");
    }
    if st.rejected.is_some() {
        class.push_str(" rejected");
    }
    html! {
        label class=(class) data-field=(path) {
            span { (label) }
            @if !help.is_empty() { small { (help) } }
            (control)
            @if let Some(why) = &st.rejected { span.rejected-note { "审核驳回：" (why) } }
            @for h in &st.hints { span.field-error { (h.errmsg) } }
        }
    }
}

pub fn date(ts: i64) -> String {
    beian_core::time::from_ts(ts)
        .with_timezone(&beian_core::time::beijing())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub(crate) fn oops(sess: Option<&Session>, e: ServiceError) -> Response {
    match e {
        ServiceError::Refused { errmsg, .. } => (
            StatusCode::BAD_REQUEST,
            layout(
                "操作未完成",
                sess,
                0,
                html! {
                    (error_box(&errmsg))
                    p { a href="/console" { "返回首页" } }
                },
            ),
        )
            .into_response(),
        other => {
            tracing::error!("console: {other}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                layout("系统繁忙", sess, 0, html! { div.error-box { "系统繁忙，请稍后再试。" } }),
            )
                .into_response()
        }
    }
}
