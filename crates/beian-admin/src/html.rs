//! Layout and escaping for staff pages (the console's stylesheet is reused).

use axum::response::Html;
use beian_core::platform::{Role, Staff};

pub use beian_web::esc;

/// The staff frame: navigation by role, then `body`. `csrf` goes into the logout form.
pub fn layout(title: &str, staff: Option<(&Staff, &str)>, body: &str) -> Html<String> {
    let nav = match staff {
        Some((s, csrf)) => {
            let ops = if s.role == Role::Operator {
                "<a href=/admin/ops>运营设置</a><a href=/admin/ops/jobs>任务队列</a><a href=/admin/ops/audit>审计日志</a><a href=/admin/dashboard>数据看板</a>"
            } else {
                ""
            };
            format!(
                "<nav><a href=/admin>审核队列</a>{ops}<a href=/query>备案查询</a></nav><span class=muted>{}（{}）</span>\
                 <form method=post action=/admin/logout><input type=hidden name=_csrf value=\"{}\"><button class=secondary type=submit>退出</button></form>",
                esc(&s.name),
                if s.role == Role::Operator { "运营" } else { "审核员" },
                esc(csrf)
            )
        }
        None => "<nav><a href=/query>备案查询</a></nav>".into(),
    };
    Html(format!(
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>{} - 备案管理</title><link rel=stylesheet href=/console/static/console.css></head>\
         <body><header class=top><a class=brand href=/admin>备案管理</a>{nav}</header><main>{body}</main></body></html>",
        esc(title)
    ))
}

pub fn date(ts: i64) -> String {
    beian_core::time::from_ts(ts)
        .with_timezone(&beian_core::time::beijing())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}
