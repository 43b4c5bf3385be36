//! Layout and small pieces of the staff pages (the console's stylesheet is reused), written
//! with maud (every interpolation escaped).

use beian_core::platform::{Role, Staff};
use maud::{html, Markup};

/// The staff frame: navigation by role, then `body`. `csrf` goes into the logout form.
pub fn layout(title: &str, staff: Option<(&Staff, &str)>, body: Markup) -> Markup {
    let head = html! { link rel="stylesheet" href="/console/static/console.css"; };
    let body = html! {
        header.top {
            a.brand href="/admin" { "备案管理" }
            @if let Some((s, csrf)) = staff {
                button.secondary #menu-toggle type="button" aria-controls="menu" aria-expanded="false" { "菜单" }
                div.menu #menu {
                    nav aria-label="主菜单" {
                        a href="/admin" { "审核队列" }
                        @if s.role == Role::Operator {
                            a href="/admin/ops" { "运营设置" }
                            a href="/admin/ops/jobs" { "任务队列" }
                            a href="/admin/ops/audit" { "审计日志" }
                            a href="/admin/dashboard" { "数据看板" }
                        }
                        a href="/query" { "备案查询" }
                    }
                    span.muted.who { (s.name) "（" @if s.role == Role::Operator { "运营" } @else { "审核员" } "）" }
                    form method="post" action="/admin/logout" {
                        (hidden(csrf))
                        button.secondary type="submit" { "退出" }
                    }
                }
            } @else {
                nav { a href="/query" { "备案查询" } }
            }
        }
        main { (body) }
        // Shared with the console: confirmations of forms with data-confirm, the menu toggle.
        script src="/console/static/console.js" defer {}
    };
    beian_web::document(title, "备案管理", head, body)
}

/// The frame of the public query: no staff branding, no staff links.
pub fn public_layout(title: &str, body: Markup) -> Markup {
    let head = html! { link rel="stylesheet" href="/console/static/console.css"; };
    let body = html! {
        header.top { a.brand href="/query" { "小程序备案查询" } }
        main { (body) }
    };
    beian_web::document(title, "小程序备案", head, body)
}

/// The CSRF field of a staff form.
pub fn hidden(csrf: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(csrf); }
}

/// An alert box with one message.
pub fn error_box(message: &str) -> Markup {
    html! { div.error-box role="alert" { (message) } }
}

pub fn date(ts: i64) -> String {
    beian_core::time::from_ts(ts)
        .with_timezone(&beian_core::time::beijing())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}
