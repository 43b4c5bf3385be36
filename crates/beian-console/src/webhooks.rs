//! Webhook (模板消息推送) settings of a mini program, its test delivery, and the delivery log
//! with 重新发送. For the admin and members with 填写备案; the service checks the URL and
//! audits every change (`beian-service/src/webhooks.rs`).

use crate::auth::{forbidden, get, require};
use crate::html::{csrf_field, date, error_box, layout, oops};
use crate::pages::{post_guard, unread};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use beian_core::platform::{Access, JobState, Permission, WebhookTarget, NOTICE_KINDS};
use beian_service::accounts::Session;
use beian_service::webhooks::{SecretChoice, WebhookView};
use beian_service::{Actor, ServiceError};
use maud::{html, Markup};

const ACCESS: Access = Access::Can(Permission::File);

fn actor(sess: &Session) -> Actor {
    Actor::new("developer", &sess.account.id)
}

/// The signed-in developer, allowed to manage `appid`'s webhook; or the page saying why not.
async fn guard(s: &AppState, headers: &HeaderMap, appid: &str, path: &str) -> Result<Session, Response> {
    let sess = require(s, headers, path).await?;
    match s.svc.accounts().require(&sess.account, appid, ACCESS).await {
        Ok(_) => Ok(sess),
        Err(ServiceError::Refused { errmsg, .. }) => Err(forbidden(&sess, &errmsg)),
        Err(e) => Err(oops(Some(&sess), e)),
    }
}

pub async fn page(State(s): State<AppState>, headers: HeaderMap, Path(appid): Path<String>) -> Response {
    let sess = match guard(&s, &headers, &appid, &format!("/console/apps/{appid}/webhook")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let view = or_page!(s.svc.mini_programs().webhook_view(&appid).await, &sess);
    render(&s, &sess, &appid, view.as_ref(), None, None, StatusCode::OK).await
}

/// The settings page; `secret` is a just-generated secret (shown this once), `error` a
/// refusal of the last save (the form keeps what was typed).
async fn render(
    s: &AppState,
    sess: &Session,
    appid: &str,
    view: Option<&WebhookView>,
    secret: Option<&str>,
    error: Option<(&str, &str)>,
    status: StatusCode,
) -> Response {
    let url = error.map(|(_, u)| u.to_string()).or_else(|| view.map(|v| v.url.clone())).unwrap_or_default();
    let enabled = view.is_none_or(|v| v.target.enabled);
    let events = view.map(|v| v.target.events.clone()).unwrap_or_default();
    let base = format!("/console/apps/{appid}/webhook");
    let body = html! {
        div.card {
            h1 { "Webhook 推送" }
            p.muted {
                "备案进度的每条通知会以签名的 JSON 推送到你的地址。签名方法、事件列表和重试规则见平台文档 docs/webhooks.md。"
            }
            @if let Some((msg, _)) = error { (error_box(msg)) }
            @if let Some(sec) = secret {
                div.banner #new-secret {
                    div {
                        strong { "新的签名密钥（只显示这一次，请立即保存）：" }
                        code #secret { (sec) }
                    }
                }
            }
            form method="post" action=(base) {
                (csrf_field(sess))
                label for="url" { "推送地址" }
                input #url type="url" name="url" value=(url) required placeholder="https://example.com/beian-hook";
                p.muted { "须为 https:// 地址（本机 localhost / 127.0.0.1 可用 http://）；不能指向内网地址。" }
                fieldset {
                    legend { "签名密钥" }
                    @if let Some(last4) = view.and_then(|v| v.secret_last4.as_deref()) {
                        p { "当前密钥：尾号 " code #secret-last4 { (last4) } }
                    }
                    label { input type="radio" name="secret_mode" value="keep" checked; " 保留当前密钥（首次保存时由平台生成）" }
                    label { input type="radio" name="secret_mode" value="generate"; " 重新生成密钥" }
                    label { input type="radio" name="secret_mode" value="set"; " 使用我自己的密钥（至少16个字符）" }
                    label for="webhook-secret" { "自己的密钥" }
                    input #webhook-secret type="password" name="secret" autocomplete="off";
                }
                fieldset {
                    legend { "推送的事件" }
                    label { input type="checkbox" name="all_events" value="1" checked[events.0.is_none()]; " 全部事件（包括以后新增的）" }
                    @for (kind, label) in NOTICE_KINDS {
                        label {
                            input type="checkbox" name="event" value=(kind) checked[events.0.as_ref().is_some_and(|e| e.iter().any(|x| x == kind))];
                            " " (label) " " small.muted { (kind) }
                        }
                    }
                }
                label { input type="checkbox" name="enabled" value="1" checked[enabled]; " 启用推送" }
                p { button type="submit" { "保存" } }
            }
            @if view.is_some() {
                form method="post" action={ (base) "/test" } {
                    (csrf_field(sess))
                    button.secondary type="submit" { "发送测试推送" }
                }
                p { a href={ (base) "/deliveries" } { "推送记录" } }
            }
        }
        p { a href={ "/console/apps/" (appid) } { "返回小程序" } }
    };
    (status, layout("Webhook 推送", Some(sess), unread(s, sess).await, body)).into_response()
}

pub async fn save(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let (sess, f) = match post_guard(&s, &headers, &appid, &body, ACCESS).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let url = get(&f, "url").to_string();
    let secret = match get(&f, "secret_mode") {
        "generate" => SecretChoice::Generate,
        "set" => SecretChoice::Set(get(&f, "secret")),
        _ => SecretChoice::Keep,
    };
    let events = if get(&f, "all_events") == "1" {
        None
    } else {
        Some(f.iter().filter(|(k, _)| k == "event").map(|(_, v)| v.clone()).collect())
    };
    let enabled = get(&f, "enabled") == "1";
    let result = match beian_service::webhooks::check_events(events, &beian_service::webhooks::notice_kinds())
    {
        Ok(events) => {
            let target = WebhookTarget { enabled, events };
            s.svc.mini_programs().set_webhook(&actor(&sess), &appid, &url, secret, target).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(generated) => {
            let view = or_page!(s.svc.mini_programs().webhook_view(&appid).await, &sess);
            match generated {
                Some(sec) => render(&s, &sess, &appid, view.as_ref(), Some(&sec), None, StatusCode::OK).await,
                None => Redirect::to(&format!("/console/apps/{appid}/webhook")).into_response(),
            }
        }
        Err(ServiceError::Refused { errmsg, .. }) => {
            let view = or_page!(s.svc.mini_programs().webhook_view(&appid).await, &sess);
            render(&s, &sess, &appid, view.as_ref(), None, Some((&errmsg, &url)), StatusCode::BAD_REQUEST)
                .await
        }
        Err(e) => oops(Some(&sess), e),
    }
}

pub async fn test(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let (sess, _) = match post_guard(&s, &headers, &appid, &body, ACCESS).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match s.svc.mini_programs().send_test_webhook(&actor(&sess), &appid).await {
        Ok(_) => Redirect::to(&format!("/console/apps/{appid}/webhook/deliveries")).into_response(),
        Err(e) => oops(Some(&sess), e),
    }
}

fn state_label(state: JobState, failed: bool) -> &'static str {
    match state {
        JobState::Done => "已送达",
        JobState::Dead => "失败（已停止重试）",
        JobState::Pending if failed => "失败，等待重试",
        JobState::Pending => "等待发送",
        JobState::Running => "发送中",
    }
}

fn event_label(kind: &str) -> Markup {
    let label = NOTICE_KINDS.iter().find(|(k, _)| *k == kind).map(|(_, l)| *l);
    html! {
        @match label {
            Some(l) => { (l) br; small.muted { (kind) } }
            None if kind == beian_core::platform::TEST_EVENT => { "测试推送" br; small.muted { (kind) } }
            None => { (kind) }
        }
    }
}

pub async fn deliveries(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
) -> Response {
    let sess = match guard(&s, &headers, &appid, &format!("/console/apps/{appid}/webhook/deliveries")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let list = or_page!(s.svc.mini_programs().webhook_deliveries(&appid, 100).await, &sess);
    let base = format!("/console/apps/{appid}/webhook");
    let body = html! {
        div.card {
            h1 { "推送记录" }
            table.stack #deliveries {
                tr.head { th { "事件" } th { "时间" } th { "尝试次数" } th { "状态" } th { "最近错误" } th { "下次重试" } th {} }
                @for d in &list {
                    @let failed = d.last_error.is_some();
                    @let retryable = d.state == JobState::Dead || (d.state == JobState::Pending && failed);
                    tr id={ "delivery-" (d.job_id) } {
                        td data-label="事件" { (event_label(&d.event)) }
                        td data-label="时间" { (date(d.created_at)) }
                        td data-label="尝试次数" { (d.attempts) }
                        td data-label="状态" { (state_label(d.state, failed)) }
                        td data-label="最近错误" { @if let Some(e) = &d.last_error { code { (e) } } }
                        td data-label="下次重试" { @if d.state == JobState::Pending && failed { (date(d.run_at)) } }
                        td {
                            @if retryable {
                                form method="post" action={ (base) "/deliveries/" (d.job_id) "/retry" } {
                                    (csrf_field(&sess))
                                    button.secondary type="submit" { "重新发送" }
                                }
                            }
                        }
                    }
                }
                @if list.is_empty() { tr { td colspan="7" class="muted" { "暂无推送记录。" } } }
            }
        }
        p { a href=(base) { "返回 Webhook 设置" } }
    };
    layout("推送记录", Some(&sess), unread(&s, &sess).await, body).into_response()
}

pub async fn retry(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((appid, job_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let (sess, _) = match post_guard(&s, &headers, &appid, &body, ACCESS).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(id) = job_id.parse::<i64>() else {
        return oops(
            Some(&sess),
            ServiceError::refused(beian_core::errcode::INVALID_INPUT, "推送记录编号不正确"),
        );
    };
    match s.svc.mini_programs().redeliver_webhook(&actor(&sess), &appid, id).await {
        Ok(()) => Redirect::to(&format!("/console/apps/{appid}/webhook/deliveries")).into_response(),
        Err(e) => oops(Some(&sess), e),
    }
}
