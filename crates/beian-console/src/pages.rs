//! Home, status, withdraw/cancel, providers, 站内信, tickets.

use crate::auth::{check_csrf, forbidden, form, get, require};
use crate::html::{csrf_field, date, esc, layout};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use beian_core::calendar::WorkCalendar;
use beian_core::platform::NotifyPrefs;
use beian_core::platform::{Access, Permission};
use beian_core::time::beijing_date;
use beian_service::accounts::Session;
use beian_service::{Actor, ServiceError};

fn actor(sess: &Session) -> Actor {
    Actor::new("developer", &sess.account.id)
}

/// Unread 站内信 over the account's mini programs, for the menu badge. A read that fails
/// counts 0 (a display-only default, never written anywhere): the badge must not take the
/// page down; the 站内信 page itself shows the error.
pub(crate) async fn unread(s: &AppState, sess: &Session) -> i64 {
    let mut n = 0;
    for m in s.svc.accounts().memberships(&sess.account.id).await.unwrap_or_default() {
        n += s.svc.mini_programs().messages(&m.appid, 1).await.map(|(_, u)| u).unwrap_or(0);
    }
    n
}

pub(crate) fn oops(sess: Option<&Session>, e: ServiceError) -> Response {
    match e {
        ServiceError::Refused { errmsg, .. } => (
            StatusCode::BAD_REQUEST,
            layout(
                "操作未完成",
                sess,
                0,
                &format!(
                    "<div class=error-box role=alert>{}</div><p><a href=/console>返回首页</a></p>",
                    esc(&errmsg)
                ),
            ),
        )
            .into_response(),
        other => {
            tracing::error!("console: {other}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                layout("系统繁忙", sess, 0, "<div class=error-box>系统繁忙，请稍后再试。</div>"),
            )
                .into_response()
        }
    }
}

fn status_label(info: &beian_service::EntranceInfo) -> String {
    use beian_core::state::{FilingState as S, SmsVerifyStatus as Sms};
    match info.state() {
        S::AuthorityReview { sms: Sms::Waiting } => "管局审核中 · 等待短信核验".into(),
        S::AuthorityReview { sms: Sms::TimedOut } => "管局审核中 · 短信核验超时".into(),
        S::AuthorityReview { sms: Sms::Done } => "管局审核中".into(),
        S::Filed { canceling: true } => "已备案 · 注销中".into(),
        // 1025–1031: the readiness flags say what is missing.
        S::NotFiled if info.status != 1024 => "未备案 · 小程序信息未完善".into(),
        other => other.label().into(),
    }
}

/// 首页: the developer's mini programs, with the 去备案 banner on listed unfiled ones.
pub async fn home(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let sess = match require(&s, &headers, "/console").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let policy = s.svc.policy();
    let today = beijing_date(s.svc.now());
    let mut banners = String::new();
    let mut rows = String::new();
    for m in or_page!(s.svc.accounts().memberships(&sess.account.id).await, &sess) {
        let mp = or_page!(s.svc.mini_programs().mini_program(&m.appid).await, &sess);
        let info = or_page!(s.svc.filings().entrance_info(&m.appid).await, &sess);
        let label = status_label(&info);
        let unfiled = info.status >= 1024;
        if mp.listed && unfiled {
            let left = (policy.deadline_date - today).num_days();
            let when = if left >= 0 {
                format!(
                    "请于{}前完成备案（还剩{left}天），逾期将于{}起清退。",
                    policy.deadline_date.format("%Y年%m月%d日"),
                    policy.clearance_date.format("%Y年%m月%d日")
                )
            } else {
                format!("备案截止日期{}已过，请尽快完成备案。", policy.deadline_date.format("%Y年%m月%d日"))
            };
            let action = if info.available == 1 {
                format!(
                    "<a class=btn id=go-file-{0} href=/console/apps/{0}/filing>去备案</a>",
                    esc(&mp.appid)
                )
            } else {
                String::new()
            };
            banners.push_str(&format!(
                "<div class=banner><div><strong>小程序需补充备案信息</strong>：「{}」{when}</div>{action}</div>",
                esc(&mp.name)
            ));
        }
        if let Some(reason) = &info.unavailable_reason {
            banners.push_str(&format!(
                "<div class=\"banner closed\"><div><strong>「{}」暂不能备案</strong>：{}</div></div>",
                esc(&mp.name),
                esc(reason)
            ));
        }
        rows.push_str(&format!(
            "<tr><td><a href=/console/apps/{0}>{1}</a><br><small class=muted>{0}</small></td><td>{2}</td><td>{3}</td><td><a href=/console/apps/{0}>查看</a></td></tr>",
            esc(&mp.appid),
            esc(&mp.name),
            esc(&label),
            m.role.label()
        ));
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=4 class=muted>你还没有可管理的小程序。</td></tr>".into();
    }
    let body = format!(
        "{banners}<div class=card><h1>我的小程序</h1><table><tr><th>小程序</th><th>备案状态</th><th>身份</th><th></th></tr>{rows}</table></div>\
         <p class=muted>也可以在 设置 → <a href=/console/settings/beian>小程序备案</a> 进入备案。</p>"
    );
    layout("首页", Some(&sess), unread(&s, &sess).await, &body).into_response()
}

/// 设置 → 小程序备案: the same entry as the banner.
pub async fn settings_beian(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let sess = match require(&s, &headers, "/console/settings/beian").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut rows = String::new();
    for m in or_page!(s.svc.accounts().memberships(&sess.account.id).await, &sess) {
        let mp = or_page!(s.svc.mini_programs().mini_program(&m.appid).await, &sess);
        let info = or_page!(s.svc.filings().entrance_info(&m.appid).await, &sess);
        let action = if info.status >= 1024 && info.available == 1 {
            format!("<a class=btn href=/console/apps/{}/filing>去备案</a>", esc(&mp.appid))
        } else {
            format!("<a href=/console/apps/{}>查看备案</a>", esc(&mp.appid))
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{action}</td></tr>",
            esc(&mp.name),
            esc(&status_label(&info))
        ));
    }
    let body = format!("<div class=card><h1>设置 · 小程序备案</h1><table>{rows}</table></div>");
    layout("小程序备案", Some(&sess), unread(&s, &sess).await, &body).into_response()
}

/// The status page: timeline with expected dates, what to do now, rejections, numbers.
pub async fn status(State(s): State<AppState>, headers: HeaderMap, Path(appid): Path<String>) -> Response {
    let sess = match require(&s, &headers, &format!("/console/apps/{appid}")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let member = match s.svc.accounts().require(&sess.account, &appid, Access::Can(Permission::View)).await {
        Ok(m) => m,
        Err(ServiceError::Refused { errmsg, .. }) => return forbidden(&sess, &errmsg),
        Err(e) => return oops(Some(&sess), e),
    };
    let (Ok(mp), Ok(info), Ok(order)) = (
        s.svc.mini_programs().mini_program(&appid).await,
        s.svc.filings().entrance_info(&appid).await,
        s.svc.filings().order(&appid).await,
    ) else {
        return oops(Some(&sess), ServiceError::Internal("status page reads".into()));
    };
    let cal = WorkCalendar::china();
    let now = s.svc.now();
    let today = beijing_date(now);
    let can_file = member.can(Access::Can(Permission::File));
    let mut body = format!("<h1>{} <small class=muted>{}</small></h1>", esc(&mp.name), esc(&appid));
    body.push_str(&format!(
        "<div class=card><p>当前状态：<strong id=status-label>{}</strong></p>",
        esc(&status_label(&info))
    ));
    // Timeline: platform review → SMS verification → authority review → filed.
    let (p, sms, a, f) = {
        use beian_core::state::{FilingState as S, SmsVerifyStatus as Sms};
        match info.state() {
            S::PlatformReview | S::PlatformRejected => ("now", "", "", ""),
            S::AuthorityReview { sms: Sms::Waiting | Sms::TimedOut } => ("done", "now", "", ""),
            S::AuthorityReview { sms: Sms::Done } | S::AuthorityRejected => ("done", "done", "now", ""),
            S::Filed { .. } => ("done", "done", "done", "done"),
            S::NotFiled => ("", "", "", ""),
        }
    };
    let due = order
        .as_ref()
        .and_then(|o| o.order.review_due_at)
        .map(|d| format!("（预计 {} 前完成）", date(d)))
        .unwrap_or_default();
    let authority = format!(
        "（一般1至20个工作日，预计 {} 至 {}）",
        cal.add_working_days(today, 1).format("%m月%d日"),
        cal.add_working_days(today, 20).format("%m月%d日")
    );
    body.push_str(&format!(
        "<ol class=timeline><li class={p}>平台初审{}</li><li class={sms}>工信部短信核验（24小时内）</li><li class={a}>管局审核{}</li><li class={f}>备案完成</li></ol>",
        if p == "now" { due } else { String::new() },
        if a == "now" { authority } else { String::new() }
    ));
    if let Ok(Some((deadline, phones))) = s.svc.filings().sms_pending(&appid).await {
        body.push_str(&format!(
            "<div class=banner><div><strong>请负责人完成短信核验</strong>：工信部已向 {} 发送验证码，请在 {} 前打开 <a href=/miit/verify>短信核验页面</a>，输入手机号、身份证号后6位和验证码。逾期订单将退回平台。</div></div>",
            esc(&phones.join("、")),
            date(deadline)
        ));
    }
    if !info.audit_data.is_empty() {
        let items: String = info
            .audit_data
            .iter()
            .map(|a| {
                format!(
                    "<li><strong>{}</strong>：{}<br><span class=muted>修改建议：{}</span></li>",
                    esc(&a.key_name),
                    esc(&a.error),
                    esc(&a.suggest)
                )
            })
            .collect();
        body.push_str(&format!(
            "<div class=error-box><strong>审核驳回原因</strong><ul id=rejections>{items}</ul></div>"
        ));
        if can_file {
            body.push_str(&format!(
                "<p><a class=btn id=resubmit href=/console/apps/{0}/filing?resubmit=1>修改后重新提交</a> \
                 <a class=\"btn secondary\" id=open-ticket href=/console/tickets?appid={0}>看不懂？提交工单</a></p>",
                esc(&appid)
            ));
        }
    }
    if let Some(v) = &order {
        if let (Some(sn), Some(svn)) = (&v.order.subject_record_number, &v.order.service_record_number) {
            let snippet = format!(
                "<a href=\"https://beian.miit.gov.cn/\" target=\"_blank\" rel=\"noopener\">{svn}</a>"
            );
            body.push_str(&format!(
                "<p>主体备案号：<strong>{}</strong><br>服务备案号：<strong id=service-number>{}</strong></p>\
                 <p>请在小程序显著位置展示备案号并链接至工信部备案系统：</p><code class=snippet id=snippet>{}</code>\
                 <button class=secondary data-copy=snippet type=button>复制</button>",
                esc(sn),
                esc(svn),
                esc(&snippet)
            ));
        }
    }
    if info.status >= 1024 && can_file {
        if info.available == 1 {
            body.push_str(&format!(
                "<p><a class=btn href=/console/apps/{}/filing>去备案</a></p>",
                esc(&appid)
            ));
        } else if let Some(r) = &info.unavailable_reason {
            body.push_str(&format!("<div class=error-box>{}</div>", esc(r)));
        }
    }
    body.push_str("</div>");
    if can_file && info.state() == beian_core::state::FilingState::PlatformReview {
        body.push_str(&format!(
            "<div class=card><h2>撤回申请</h2><p>平台审核完成前可以撤回，撤回后可修改再提交。</p>\
             <form method=post action=/console/apps/{}/withdraw>{}<button class=secondary type=submit id=withdraw>撤回备案申请</button></form></div>",
            esc(&appid),
            csrf_field(&sess)
        ));
    }
    if can_file && info.state() == (beian_core::state::FilingState::Filed { canceling: false }) {
        body.push_str(&format!(
            "<div class=card><h2>注销备案</h2><form method=post action=/console/apps/{}/cancel>{}\
             <label class=field><span>注销类型</span><select name=cancel_type>\
             <option value=2>注销小程序备案（仅注销本小程序的服务备案号）</option>\
             <option value=1>注销主体备案（主体及其下所有小程序的备案均被注销）</option>\
             <option value=3>注销微信小程序（取消本小程序在平台的接入）</option></select></label>\
             <label class=field><span>注销原因</span><select name=reason_type><option value=1>不再运营该小程序</option><option value=2>主体信息发生变更，需注销后重新备案</option></select></label>\
             <label><input type=checkbox name=confirm value=1 required> 我已知晓：注销经负责人短信确认后立即生效且不可撤销，备案号将失效。</label>\
             <p><button class=danger type=submit>申请注销</button></p></form></div>",
            esc(&appid),
            csrf_field(&sess)
        ));
    }
    body.push_str(&format!(
        "<p><a href=/console/apps/{0}/providers>已授权的服务商</a> · <a href=/console/messages>站内信</a></p>",
        esc(&appid)
    ));
    layout(&mp.name, Some(&sess), unread(&s, &sess).await, &body).into_response()
}

async fn post_guard(
    s: &AppState,
    headers: &HeaderMap,
    appid: &str,
    body: &Bytes,
    perm: Access,
) -> Result<(Session, Vec<(String, String)>), Response> {
    let sess = require(s, headers, &format!("/console/apps/{appid}")).await?;
    let f = form(body);
    check_csrf(&sess, get(&f, "_csrf"))?;
    match s.svc.accounts().require(&sess.account, appid, perm).await {
        Ok(_) => Ok((sess, f)),
        Err(ServiceError::Refused { errmsg, .. }) => Err(forbidden(&sess, &errmsg)),
        Err(e) => Err(oops(Some(&sess), e)),
    }
}

pub async fn withdraw(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let (sess, _) = match post_guard(&s, &headers, &appid, &body, Access::Can(Permission::File)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match s.svc.filings().withdraw(&actor(&sess), &appid).await {
        Ok(_) => Redirect::to(&format!("/console/apps/{appid}")).into_response(),
        Err(e) => oops(Some(&sess), e),
    }
}

pub async fn cancel(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let (sess, f) = match post_guard(&s, &headers, &appid, &body, Access::Can(Permission::File)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if get(&f, "confirm") != "1" {
        return oops(
            Some(&sess),
            ServiceError::refused(beian_core::errcode::INVALID_INPUT, "请确认已知晓注销不可撤销"),
        );
    }
    let ct = get(&f, "cancel_type").parse().ok();
    let rt = get(&f, "reason_type").parse().ok();
    match s.svc.filings().cancel(&actor(&sess), &appid, ct, rt).await {
        Ok(_) => Redirect::to(&format!("/console/apps/{appid}")).into_response(),
        Err(e) => oops(Some(&sess), e),
    }
}

pub async fn providers(State(s): State<AppState>, headers: HeaderMap, Path(appid): Path<String>) -> Response {
    let sess = match require(&s, &headers, &format!("/console/apps/{appid}/providers")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let member = match s.svc.accounts().require(&sess.account, &appid, Access::Can(Permission::View)).await {
        Ok(m) => m,
        Err(ServiceError::Refused { errmsg, .. }) => return forbidden(&sess, &errmsg),
        Err(e) => return oops(Some(&sess), e),
    };
    let mut rows = String::new();
    for a in or_page!(s.svc.providers().authorizations_of(&appid).await, &sess) {
        let name = or_page!(s.svc.providers().provider(&a.component_appid).await, &sess).name;
        let sets: Vec<String> = a.scopes.iter().map(|x| x.to_string()).collect();
        let revoke = if member.is_admin() {
            format!(
                "<form method=post action=/console/apps/{}/providers/revoke>{}<input type=hidden name=component_appid value=\"{}\"><button class=secondary type=submit>取消授权</button></form>",
                esc(&appid),
                csrf_field(&sess),
                esc(&a.component_appid)
            )
        } else {
            String::new()
        };
        rows.push_str(&format!(
            "<tr><td>{}<br><small class=muted>{}</small></td><td>权限集 {}</td><td>{}</td><td>{revoke}</td></tr>",
            esc(&name),
            esc(&a.component_appid),
            esc(&sets.join("、")),
            date(a.updated_at)
        ));
    }
    if rows.is_empty() {
        rows = "<tr><td colspan=4 class=muted>尚未授权任何服务商。服务商会发给你授权链接，在链接页面确认即可。</td></tr>".into();
    }
    let body = format!("<div class=card><h1>已授权的服务商</h1><table><tr><th>服务商</th><th>权限</th><th>授权时间</th><th></th></tr>{rows}</table></div>");
    layout("服务商", Some(&sess), unread(&s, &sess).await, &body).into_response()
}

pub async fn revoke_provider(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let (sess, f) = match post_guard(&s, &headers, &appid, &body, Access::Admin).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match s.svc.providers().revoke_authorization(&actor(&sess), get(&f, "component_appid"), &appid).await {
        Ok(()) => Redirect::to(&format!("/console/apps/{appid}/providers")).into_response(),
        Err(e) => oops(Some(&sess), e),
    }
}

/// 站内信 of every mini program the account belongs to, with preferences.
pub async fn messages(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let sess = match require(&s, &headers, "/console/messages").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut body = String::from("<h1>站内信</h1>");
    for m in or_page!(s.svc.accounts().memberships(&sess.account.id).await, &sess) {
        let name = or_page!(s.svc.mini_programs().mini_program(&m.appid).await, &sess).name;
        let (list, unread_n) = or_page!(s.svc.mini_programs().messages(&m.appid, 50).await, &sess);
        let items: String = list
            .iter()
            .map(|x| {
                let read = if x.read_at.is_none() {
                    format!(
                        "<form method=post action=/console/messages/read>{}<input type=hidden name=appid value=\"{}\"><input type=hidden name=id value={}><button class=secondary type=submit>标为已读</button></form>",
                        csrf_field(&sess),
                        esc(&m.appid),
                        x.id
                    )
                } else {
                    String::new()
                };
                format!(
                    "<li class=message><strong>{}{}</strong> <small class=muted>{}</small><br>{}{read}</li>",
                    if x.read_at.is_none() { "● " } else { "" },
                    esc(&x.title),
                    date(x.created_at),
                    esc(&x.body).replace('\n', "<br>")
                )
            })
            .collect();
        // Shown in a form that saves them back: a failed read must not offer defaults.
        let prefs = or_page!(s.svc.mini_programs().notify_prefs(&m.appid).await, &sess);
        let chk = |on: bool| if on { " checked" } else { "" };
        body.push_str(&format!(
            "<div class=card><h2>{} <small class=muted>未读 {unread_n}</small></h2><ul>{items}</ul>\
             <form method=post action=/console/prefs>{}<input type=hidden name=appid value=\"{}\">通知方式：站内信（始终）\
             <label><input type=checkbox name=sms value=1{}> 短信</label> <label><input type=checkbox name=email value=1{}> 邮件</label> \
             <label><input type=checkbox name=webhook value=1{}> 模板消息（Webhook）</label> <button class=secondary type=submit>保存</button></form></div>",
            esc(&name),
            csrf_field(&sess),
            esc(&m.appid),
            chk(prefs.sms),
            chk(prefs.email),
            chk(prefs.webhook)
        ));
    }
    layout("站内信", Some(&sess), unread(&s, &sess).await, &body).into_response()
}

pub async fn read_message(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let appid = get(&f, "appid").to_string();
    let (sess, f) = match post_guard(&s, &headers, &appid, &body, Access::Can(Permission::View)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = get(&f, "id").parse().unwrap_or(0);
    match s.svc.mini_programs().mark_message_read(&appid, id).await {
        Ok(_) => Redirect::to("/console/messages").into_response(),
        Err(e) => oops(Some(&sess), e),
    }
}

pub async fn save_prefs(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let appid = get(&f, "appid").to_string();
    let (sess, f) = match post_guard(&s, &headers, &appid, &body, Access::Can(Permission::File)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = NotifyPrefs {
        sms: get(&f, "sms") == "1",
        email: get(&f, "email") == "1",
        webhook: get(&f, "webhook") == "1",
    };
    match s.svc.mini_programs().set_notify_prefs(&actor(&sess), &appid, p).await {
        Ok(()) => Redirect::to("/console/messages").into_response(),
        Err(e) => oops(Some(&sess), e),
    }
}

/// 工单: the list, and the form to open one (pre-filled from a rejection).
pub async fn tickets(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let sess = match require(&s, &headers, "/console/tickets").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let appids: Vec<String> = or_page!(s.svc.accounts().memberships(&sess.account.id).await, &sess)
        .into_iter()
        .map(|m| m.appid)
        .collect();
    let selected = q
        .as_deref()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("appid=")))
        .map(crate::auth::decode)
        .unwrap_or_default();
    let list = or_page!(s.svc.accounts().tickets(Some(&appids)).await, &sess);
    let rows: String = list
        .iter()
        .map(|t| {
            format!(
                "<tr><td><a href=/console/tickets/{0}>#{0} {1}</a></td><td>{2}</td><td>{3}</td></tr>",
                t.id,
                esc(&t.title),
                esc(&t.appid),
                if t.state == "answered" {
                    "已回复"
                } else if t.state == "closed" {
                    "已关闭"
                } else {
                    "处理中"
                }
            )
        })
        .collect();
    let options: String = appids
        .iter()
        .map(|a| {
            format!(
                "<option value=\"{0}\"{1}>{0}</option>",
                esc(a),
                if *a == selected { " selected" } else { "" }
            )
        })
        .collect();
    let mut context = String::new();
    if !selected.is_empty() && appids.contains(&selected) {
        if let Ok(info) = s.svc.filings().entrance_info(&selected).await {
            if !info.audit_data.is_empty() {
                let items: String = info
                    .audit_data
                    .iter()
                    .map(|a| format!("<li>{}：{}</li>", esc(&a.key_name), esc(&a.error)))
                    .collect();
                context = format!(
                    "<div class=error-box>工单将自动附上 AppID 和以下驳回通知：<ul>{items}</ul></div>"
                );
            }
        }
    }
    let body = format!(
        "<div class=card><h1>工单</h1><table>{rows}</table></div>\
         <div class=card><h2>提交工单</h2>{context}<form method=post action=/console/tickets>{}\
         <label class=field><span>小程序</span><select name=appid>{options}</select></label>\
         <label class=field><span>标题</span><input type=text name=title required value=\"{}\"></label>\
         <label class=field><span>问题描述</span><textarea name=body required></textarea></label>\
         <button type=submit id=submit-ticket>提交工单</button></form></div>",
        csrf_field(&sess),
        if context.is_empty() { "" } else { "驳回原因咨询" }
    );
    layout("工单", Some(&sess), unread(&s, &sess).await, &body).into_response()
}

pub async fn open_ticket(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let appid = get(&f, "appid").to_string();
    let (sess, f) = match post_guard(&s, &headers, &appid, &body, Access::Can(Permission::View)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match s.svc.accounts().open_ticket(&sess.account, &appid, get(&f, "title"), get(&f, "body")).await {
        Ok(id) => Redirect::to(&format!("/console/tickets/{id}")).into_response(),
        Err(e) => oops(Some(&sess), e),
    }
}

pub async fn ticket(State(s): State<AppState>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let sess = match require(&s, &headers, &format!("/console/tickets/{id}")).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(Some((t, msgs))) = s.svc.accounts().ticket(id).await else {
        return oops(Some(&sess), ServiceError::refused(beian_core::errcode::INVALID_INPUT, "工单不存在"));
    };
    if let Err(ServiceError::Refused { errmsg, .. }) =
        s.svc.accounts().require(&sess.account, &t.appid, Access::Can(Permission::View)).await
    {
        return forbidden(&sess, &errmsg);
    }
    let thread: String = msgs
        .iter()
        .map(|m| {
            format!(
                "<li><strong>{}</strong> <small class=muted>{}</small><br>{}</li>",
                esc(if m.author.starts_with("operator:") {
                    "平台客服"
                } else {
                    &m.author[m.author.find(':').map(|i| i + 1).unwrap_or(0)..]
                }),
                date(m.created_at),
                esc(&m.body).replace('\n', "<br>")
            )
        })
        .collect();
    let body = format!(
        "<div class=card><h1>#{} {}</h1><pre class=muted id=ticket-context>{}</pre><ul id=thread>{thread}</ul>\
         <form method=post action=/console/tickets/{}/reply>{}<label class=field><span>回复</span><textarea name=body required></textarea></label><button type=submit>回复</button></form></div>",
        t.id,
        esc(&t.title),
        esc(&t.context),
        t.id,
        csrf_field(&sess)
    );
    layout("工单", Some(&sess), unread(&s, &sess).await, &body).into_response()
}

pub async fn reply_ticket(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let Ok(Some((t, _))) = s.svc.accounts().ticket(id).await else {
        return Redirect::to("/console/tickets").into_response();
    };
    let (sess, f) = match post_guard(&s, &headers, &t.appid, &body, Access::Can(Permission::View)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match s
        .svc
        .accounts()
        .reply_ticket(id, &format!("developer:{}", sess.account.display_name), get(&f, "body"))
        .await
    {
        Ok(()) => Redirect::to(&format!("/console/tickets/{id}")).into_response(),
        Err(e) => oops(Some(&sess), e),
    }
}
