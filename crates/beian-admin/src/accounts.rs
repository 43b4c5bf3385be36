//! `/admin/accounts` (operators only): developer accounts for platforms without single
//! sign-on — list, create (the password is generated and shown once), disable (its sessions
//! end; it cannot sign in by any method) and enable. Every change is audited by the service.

use crate::auth::{check_csrf, form, get, require};
use crate::html::{error_box, hidden, layout};
use crate::ops::fail;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use beian_core::platform::Role;
use beian_service::signin::NewAccount;
use beian_service::Actor;
use maud::html;

pub async fn list(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Operator).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let accounts = match s.svc.sign_in().list_accounts().await {
        Ok(a) => a,
        Err(e) => return fail(&staff, &csrf, e),
    };
    let h = hidden(&csrf);
    let body = html! {
        div.card {
            h1 { "开发者帐号" }
            p.muted { "平台未接入统一登录时，由运营人员在此创建和停用开发者帐号。停用后该帐号无法以任何方式登录，已登录的会话立即失效。" }
            table #accounts {
                tr { th { "用户名" } th { "显示名称" } th { "邮箱" } th { "状态" } th {} }
                @for a in &accounts {
                    tr {
                        td { (a.username) br; small.muted { (a.id) } }
                        td { (a.display_name) }
                        td { @if a.email.is_some() { "已绑定" } @else { "—" } }
                        td { @if a.is_disabled() { "已停用" } @else { "正常" } }
                        td {
                            @if a.is_disabled() {
                                form method="post" action={ "/admin/accounts/" (a.id) "/enable" } {
                                    (h) button.secondary type="submit" { "启用" }
                                }
                            } @else {
                                form method="post" action={ "/admin/accounts/" (a.id) "/disable" } {
                                    (h) button.secondary type="submit" { "停用" }
                                }
                            }
                        }
                    }
                }
            }
        }
        div.card {
            h2 { "新建帐号" }
            form method="post" action="/admin/accounts" {
                (h)
                label.field { span { "用户名" } input type="text" name="username" required; }
                label.field { span { "显示名称" } input type="text" name="display_name" required; }
                label.field { span { "邮箱（用于找回密码，可不填）" } input type="email" name="email"; }
                button type="submit" { "创建" }
            }
        }
    };
    layout("开发者帐号", Some((&staff, &csrf)), body).into_response()
}

pub async fn create(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Operator).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = form(&body);
    if let Err(r) = check_csrf(&staff, &csrf, &f) {
        return r;
    }
    let password = beian_service::signin::generate_password();
    let new = NewAccount {
        username: get(&f, "username").into(),
        display_name: get(&f, "display_name").into(),
        password: password.clone(),
        email: Some(get(&f, "email").to_string()).filter(|e| !e.trim().is_empty()),
    };
    match s.svc.sign_in().create_local_account(&Actor::new("operator", &staff.id), &new).await {
        Ok(a) => layout(
            "帐号已创建",
            Some((&staff, &csrf)),
            html! {
                div.ok-box { "帐号 " (a.username) " 已创建。初始密码只显示这一次，请通过安全渠道交给开发者：" }
                p { code #initial-password { (password) } }
                p { a href="/admin/accounts" { "返回" } }
            },
        )
        .into_response(),
        Err(e) => fail(&staff, &csrf, e),
    }
}

pub async fn set_state(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Operator).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = check_csrf(&staff, &csrf, &form(&body)) {
        return r;
    }
    let disabled = match action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => {
            return layout("操作未完成", Some((&staff, &csrf)), error_box("未知操作")).into_response();
        }
    };
    match s.svc.sign_in().set_account_disabled(&Actor::new("operator", &staff.id), &id, disabled).await {
        Ok(_) => Redirect::to("/admin/accounts").into_response(),
        Err(e) => fail(&staff, &csrf, e),
    }
}
