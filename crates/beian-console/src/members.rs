//! 成员管理 (`/console/apps/{appid}/members`): the mini program's admin lists members, adds an
//! account by name, invites by e-mail, grants 查看 or 填写备案, changes it, removes members
//! (`beian-service/src/members.rs` decides and audits). `/console/invitations/{token}`: the
//! signed-in account accepts an e-mailed invitation (shown first, accepted by a POST, so a
//! mail scanner that opens links accepts nothing).

use crate::auth::{check_csrf, forbidden, form, get, require};
use crate::html::{csrf_field, date, error_box, layout, oops};
use crate::pages::unread;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use beian_core::errcode;
use beian_core::platform::{MemberRole, Permission};
use beian_service::accounts::Session;
use beian_service::ServiceError;
use maud::{html, Markup};

fn perm_label(perms: &[Permission], role: MemberRole) -> &'static str {
    if role == MemberRole::Admin {
        "管理员（全部权限）"
    } else if perms.contains(&Permission::File) {
        "填写备案"
    } else if perms.contains(&Permission::View) {
        "查看"
    } else {
        "无"
    }
}

/// The permission chosen in a form (`perm`: `view` or `file`).
fn chosen(f: &[(String, String)]) -> Result<Permission, ServiceError> {
    Permission::parse(get(f, "perm"))
        .ok_or_else(|| ServiceError::refused(errcode::INVALID_INPUT, "请选择权限：查看或填写备案"))
}

fn perm_select(selected: Option<Permission>) -> Markup {
    html! {
        select name="perm" aria-label="权限" {
            option value="view" selected[selected == Some(Permission::View)] { "查看" }
            option value="file" selected[selected == Some(Permission::File)] { "填写备案" }
        }
    }
}

/// A refusal of the admin check is a 403 page naming the admin; another refusal re-shows the
/// page with the reason; anything else is the error page.
async fn refused(s: &AppState, sess: &Session, appid: &str, e: ServiceError) -> Response {
    match e {
        ServiceError::Refused { errcode: errcode::API_UNAUTHORIZED, errmsg } => forbidden(sess, &errmsg),
        ServiceError::Refused { errmsg, .. } => {
            page(s, sess, appid, Some(&errmsg), StatusCode::BAD_REQUEST).await
        }
        other => oops(Some(sess), other),
    }
}

async fn page(
    s: &AppState,
    sess: &Session,
    appid: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let list = match s.svc.memberships().members(&sess.account, appid).await {
        Ok(l) => l,
        Err(ServiceError::Refused { errmsg, .. }) => return forbidden(sess, &errmsg),
        Err(e) => return oops(Some(sess), e),
    };
    let base = format!("/console/apps/{appid}/members");
    let body = html! {
        div.card {
            h1 { "成员管理 " small.muted { (appid) } }
            p.muted { "管理员可添加成员并授予权限：「查看」可看备案进度、站内信和工单；「填写备案」还可填写、提交、撤回和注销备案。管理员由平台的小程序管理员设置决定。" }
            @if let Some(e) = error { (error_box(e)) }
            table.stack #members {
                tr.head { th { "帐号" } th { "权限" } th {} }
                @for m in &list.members {
                    tr {
                        td { (m.display_name) br; small.muted { (m.username) } }
                        td { (perm_label(&m.perms, m.role)) }
                        td {
                            @if m.role == MemberRole::Member {
                                form method="post" action={ (base) "/" (m.account_id) "/perm" } {
                                    (csrf_field(sess))
                                    (perm_select(m.perms.contains(&Permission::File).then_some(Permission::File).or(Some(Permission::View))))
                                    " " button.secondary type="submit" { "修改权限" }
                                }
                                form method="post" action={ (base) "/" (m.account_id) "/remove" } {
                                    (csrf_field(sess))
                                    button.secondary type="submit" { "移除" }
                                }
                            }
                        }
                    }
                }
            }
            @if !list.invitations.is_empty() {
                h2 { "待接受的邀请" }
                ul #invitations {
                    @for (p, until) in &list.invitations {
                        li { (perm_label(std::slice::from_ref(p), MemberRole::Member)) "，" (date(*until)) " 前有效" }
                    }
                }
            }
        }
        div.card {
            h2 { "按帐号名添加" }
            form method="post" action={ (base) "/add" } #add-member {
                (csrf_field(sess))
                label { "帐号名 " input type="text" name="username" required maxlength="64"; }
                " " (perm_select(Some(Permission::View)))
                " " button type="submit" { "添加" }
            }
        }
        div.card {
            h2 { "邮件邀请" }
            p.muted { "对方会收到一封带链接的邮件，登录备案控制台后打开链接即可加入；链接7天内有效，只能使用一次。" }
            form method="post" action={ (base) "/invite" } #invite-member {
                (csrf_field(sess))
                label { "邮箱 " input type="email" name="email" required maxlength="254"; }
                " " (perm_select(Some(Permission::View)))
                " " button type="submit" { "发送邀请" }
            }
        }
        p { a href={ "/console/apps/" (appid) } { "返回备案状态" } }
    };
    (status, layout("成员管理", Some(sess), unread(s, sess).await, body)).into_response()
}

pub async fn members(State(s): State<AppState>, headers: HeaderMap, Path(appid): Path<String>) -> Response {
    let sess = match require(&s, &headers, &format!("/console/apps/{appid}/members")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    page(&s, &sess, &appid, None, StatusCode::OK).await
}

/// The session and the form of a POST with a valid CSRF token.
async fn posted(
    s: &AppState,
    headers: &HeaderMap,
    appid: &str,
    body: &Bytes,
) -> Result<(Session, Vec<(String, String)>), Response> {
    let sess = require(s, headers, &format!("/console/apps/{appid}/members")).await?;
    let f = form(body);
    check_csrf(&sess, get(&f, "_csrf"))?;
    Ok((sess, f))
}

/// After a change: back to the list, or the refusal.
async fn done(s: &AppState, sess: &Session, appid: &str, r: Result<(), ServiceError>) -> Response {
    match r {
        Ok(()) => Redirect::to(&format!("/console/apps/{appid}/members")).into_response(),
        Err(e) => refused(s, sess, appid, e).await,
    }
}

/// What a POST to the members page asks.
enum Change {
    Add,
    Invite,
    Permission(String),
    Remove(String),
}

/// Check the session and CSRF token, ask the service for `change`, answer the list or the refusal.
async fn change(s: &AppState, headers: &HeaderMap, appid: &str, body: &Bytes, change: Change) -> Response {
    let (sess, f) = match posted(s, headers, appid, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (accounts, me) = (s.svc.memberships(), &sess.account);
    let r = match (change, chosen(&f)) {
        (Change::Remove(id), _) => accounts.remove_member(me, appid, &id).await,
        (_, Err(e)) => Err(e),
        (Change::Add, Ok(p)) => accounts.add_member(me, appid, get(&f, "username"), p).await,
        (Change::Invite, Ok(p)) => accounts.invite_by_email(me, appid, get(&f, "email"), p).await,
        (Change::Permission(id), Ok(p)) => accounts.set_member_permission(me, appid, &id, p).await,
    };
    done(s, &sess, appid, r).await
}

pub async fn add(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    change(&s, &headers, &appid, &body, Change::Add).await
}

pub async fn invite(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    change(&s, &headers, &appid, &body, Change::Invite).await
}

pub async fn set_perm(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((appid, account_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    change(&s, &headers, &appid, &body, Change::Permission(account_id)).await
}

pub async fn remove(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((appid, account_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    change(&s, &headers, &appid, &body, Change::Remove(account_id)).await
}

/// `GET /console/invitations/{token}`: what the invitation offers, and the button to accept.
pub async fn invitation(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let sess = match require(&s, &headers, &format!("/console/invitations/{token}")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (appid, perm) = match s.svc.memberships().invitation(&token).await {
        Ok(x) => x,
        Err(e) => return oops(Some(&sess), e),
    };
    let name = match s.svc.mini_programs().mini_program(&appid).await {
        Ok(m) => m.name,
        Err(e) => return oops(Some(&sess), e),
    };
    let body = html! {
        div.card {
            h1 { "加入小程序" }
            p { "你受邀成为小程序「" (name) "」（" (appid) "）的成员，权限：" strong { (perm_label(&[perm], MemberRole::Member)) } "。" }
            p.muted { "将以当前登录的帐号「" (sess.account.display_name) "」加入。" }
            form method="post" action={ "/console/invitations/" (token) } {
                (csrf_field(&sess))
                button type="submit" #accept { "接受邀请" }
            }
        }
    };
    layout("加入小程序", Some(&sess), unread(&s, &sess).await, body).into_response()
}

/// `POST /console/invitations/{token}`: accept as the signed-in account.
pub async fn accept(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let sess = match require(&s, &headers, &format!("/console/invitations/{token}")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(r) = check_csrf(&sess, get(&form(&body), "_csrf")) {
        return r;
    }
    match s.svc.memberships().accept_invitation(&sess.account, &token).await {
        Ok(appid) => Redirect::to(&format!("/console/apps/{appid}")).into_response(),
        Err(e) => oops(Some(&sess), e),
    }
}
