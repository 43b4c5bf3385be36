//! Page layout, escaping and form pieces.

use axum::http::header;
use axum::response::{Html, IntoResponse};
use beian_core::rules::Hint;
use beian_service::accounts::Session;

pub async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../static/console.css"))
}

pub async fn js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../static/console.js"))
}

pub use beian_web::esc;

/// The page frame: top navigation with the unread count, then `body`.
pub fn layout(title: &str, session: Option<&Session>, unread: i64, body: &str) -> Html<String> {
    let nav = match session {
        Some(s) => {
            let badge =
                if unread > 0 { format!(" <span class=badge>{unread}</span>") } else { String::new() };
            format!(
                "<nav><a href=/console>首页</a><a href=/console/messages>站内信{badge}</a><a href=/console/tickets>工单</a></nav>\
                 <span class=muted>{}</span><form method=post action=/console/logout>{}<button class=secondary type=submit>退出</button></form>",
                esc(&s.account.display_name),
                csrf_field(s)
            )
        }
        None => "<nav></nav>".into(),
    };
    Html(format!(
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>{} - 小程序备案</title><link rel=stylesheet href=/console/static/console.css></head>\
         <body><header class=top><a class=brand href=/console>小程序备案</a>{nav}</header><main>{body}</main>\
         <script src=/console/static/console.js defer></script></body></html>",
        esc(title)
    ))
}

pub fn csrf_field(s: &Session) -> String {
    format!("<input type=hidden name=_csrf value=\"{}\">", esc(&s.csrf))
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
pub fn input(path: &str, label: &str, value: &str, kind: &str, help: &str, st: &FieldState<'_>) -> String {
    let control = match kind {
        "textarea" => format!("<textarea name=\"{path}\" data-count=\"20-200字\">{}</textarea>", esc(value)),
        _ => format!("<input type={kind} name=\"{path}\" value=\"{}\" autocomplete=off>", esc(value)),
    };
    wrap(path, label, &control, help, st)
}

pub fn select(
    path: &str,
    label: &str,
    options: &[(String, String)],
    value: &str,
    help: &str,
    st: &FieldState<'_>,
    region: &str,
) -> String {
    let opts: String = std::iter::once(("".to_string(), "请选择".to_string()))
        .chain(options.iter().cloned())
        .map(|(v, t)| {
            let sel = if v == value { " selected" } else { "" };
            format!("<option value=\"{}\"{sel}>{}</option>", esc(&v), esc(&t))
        })
        .collect();
    let data = if region.is_empty() { String::new() } else { format!(" data-region={region}") };
    wrap(path, label, &format!("<select name=\"{path}\"{data}>{opts}</select>"), help, st)
}

pub fn wrap(path: &str, label: &str, control: &str, help: &str, st: &FieldState<'_>) -> String {
    let mut class = String::from("field");
    if !st.hints.is_empty() {
        class.push_str(" invalid");
    }
    if st.rejected.is_some() {
        class.push_str(" rejected");
    }
    let errors: String =
        st.hints.iter().map(|h| format!("<span class=field-error>{}</span>", esc(&h.errmsg))).collect();
    let rejected = st
        .rejected
        .as_ref()
        .map(|why| format!("<span class=rejected-note>审核驳回：{}</span>", esc(why)))
        .unwrap_or_default();
    let help = if help.is_empty() { String::new() } else { format!("<small>{}</small>", esc(help)) };
    format!("<label class=\"{class}\" data-field=\"{path}\"><span>{}</span>{help}{control}{rejected}{errors}</label>", esc(label))
}

pub fn date(ts: i64) -> String {
    beian_core::time::from_ts(ts)
        .with_timezone(&beian_core::time::beijing())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}
