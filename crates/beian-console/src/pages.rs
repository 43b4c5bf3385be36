//! Home, status, withdraw/cancel, providers, 站内信, tickets.

use crate::auth::{check_csrf, forbidden, form, get, require};
use crate::html::{csrf_field, date, layout, multiline, oops};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use beian_core::model::AuditEntity;
use beian_core::platform::NotifyPrefs;
use beian_core::platform::{Access, Permission};
use beian_core::state::Action;
use beian_core::time::beijing_date;
use beian_service::accounts::Session;
use beian_service::{Actor, ServiceError};
use maud::html;

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

fn status_label(info: &beian_service::EntranceInfo) -> String {
    use beian_core::state::{FilingState as S, SmsVerifyStatus as Sms};
    match info.state() {
        S::AuthorityReview { sms: Sms::Waiting } => "管局审核中 · 等待短信核验".into(),
        S::AuthorityReview { sms: Sms::TimedOut } => "管局审核中 · 短信核验超时".into(),
        S::AuthorityReview { sms: Sms::Done } => "管局审核中".into(),
        S::Filed { canceling: true } => "已备案 · 注销中".into(),
        // The record stays filed while a change runs beside it.
        S::Changing { stage } => format!("已备案 · {}", stage.label()),
        // 1025–1031: the readiness flags say what is missing.
        S::NotFiled if info.status != 1024 => "未备案 · 小程序信息未完善".into(),
        other => other.label().into(),
    }
}

/// What a filing transition means to the developer (the status page's 办理记录, the history).
pub(crate) fn event_label(a: Action) -> &'static str {
    match a {
        Action::Apply => "提交备案申请",
        Action::ApplyChange => "提交变更备案",
        Action::ApplyAccess => "提交接入已有备案",
        Action::AccessRevoked => "管局取消了本平台的接入",
        Action::Withdraw => "撤回申请",
        Action::PlatformApprove => "平台初审通过，已提交管局",
        Action::PlatformReject => "平台初审驳回",
        Action::SmsVerified => "短信核验完成",
        Action::SmsTimeout => "短信核验超时",
        Action::Resubmit => "平台重新提交管局",
        Action::AuthorityApprove => "管局审核通过，备案完成",
        Action::AuthorityReject => "管局审核驳回",
        Action::Cancel => "申请注销备案",
        Action::CancelConfirmed => "注销已确认",
        Action::CancelAborted => "注销未确认，备案保留",
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
    let mut banners = Vec::new();
    let mut rows = Vec::new();
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
            banners.push(html! {
                div.banner {
                    div { strong { "小程序需补充备案信息" } "：「" (mp.name) "」" (when) }
                    @if info.available == 1 {
                        a.btn id={ "go-file-" (mp.appid) } href={ "/console/apps/" (mp.appid) "/filing" } { "去备案" }
                    }
                }
            });
        }
        if let Some(reason) = &info.unavailable_reason {
            banners.push(html! {
                div class="banner closed" {
                    div { strong { "「" (mp.name) "」暂不能备案" } "：" (reason) }
                }
            });
        }
        rows.push(html! {
            tr {
                td { a href={ "/console/apps/" (mp.appid) } { (mp.name) } br; small.muted { (mp.appid) } }
                td data-label="备案状态" { (label) }
                td data-label="身份" { (m.role.label()) }
                td { a href={ "/console/apps/" (mp.appid) } { "查看" } }
            }
        });
    }
    let body = html! {
        @for b in &banners { (b) }
        div.card {
            h1 { "我的小程序" }
            table.stack #apps {
                tr.head { th { "小程序" } th { "备案状态" } th { "身份" } th {} }
                @for r in &rows { (r) }
                @if rows.is_empty() { tr { td colspan="4" class="muted" { "你还没有可管理的小程序。" } } }
            }
        }
        p.muted { "也可以在 设置 → " a href="/console/settings/beian" { "小程序备案" } " 进入备案。" }
    };
    layout("首页", Some(&sess), unread(&s, &sess).await, body).into_response()
}

/// 设置 → 小程序备案: the same entry as the banner.
pub async fn settings_beian(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let sess = match require(&s, &headers, "/console/settings/beian").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut rows = Vec::new();
    for m in or_page!(s.svc.accounts().memberships(&sess.account.id).await, &sess) {
        let mp = or_page!(s.svc.mini_programs().mini_program(&m.appid).await, &sess);
        let info = or_page!(s.svc.filings().entrance_info(&m.appid).await, &sess);
        rows.push(html! {
            tr {
                td { (mp.name) }
                td { (status_label(&info)) }
                td {
                    @if info.status >= 1024 && info.available == 1 {
                        a.btn href={ "/console/apps/" (mp.appid) "/filing" } { "去备案" }
                    } @else {
                        a href={ "/console/apps/" (mp.appid) } { "查看备案" }
                    }
                }
            }
        });
    }
    let body = html! { div.card { h1 { "设置 · 小程序备案" } table.stack { @for r in &rows { (r) } } } };
    layout("小程序备案", Some(&sess), unread(&s, &sess).await, body).into_response()
}

/// The status page: timeline with expected dates, what to do now, rejections, numbers.
/// 负责人须变更: the admin changed on the host after filing, so the filing's principal must
/// change (marked by `beian-service/src/host.rs`, cleared when the change is approved).
fn principal_change_banner(appid: &str, marked_at: i64, can_file: bool) -> maud::Markup {
    html! {
        div.banner #principal-change role="status" {
            div {
                strong { "负责人须变更" }
                "：小程序管理员已于 " (date(marked_at)) " 在平台变更，已备案信息中的小程序负责人仍是原管理员。\
                 负责人须与管理员一致，请办理变更备案，将负责人变更为新管理员；变更完成前备案继续有效。"
                @if can_file {
                    " " a href={ "/console/apps/" (appid) "/change" } { "办理变更备案" }
                }
            }
        }
    }
}

pub async fn status(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let submitted = query.as_deref().is_some_and(|q| q.split('&').any(|p| p.starts_with("submitted=")));
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
    let cal = s.svc.calendar();
    let now = s.svc.now();
    let today = beijing_date(now);
    let can_file = member.can(Access::Can(Permission::File));
    // What happened to the filing, with dates (the audit trail's transitions, oldest first).
    let history: Vec<(i64, &'static str)> =
        or_page!(s.svc.audit_trail(AuditEntity::Filing, &appid).await, &sess)
            .iter()
            .filter_map(|e| {
                Action::ALL.into_iter().find(|a| a.name() == e.action).map(|a| (e.at, event_label(a)))
            })
            .collect();
    // The date of the last `action` of the current round (after the last submission).
    let submitted_labels =
        [event_label(Action::Apply), event_label(Action::ApplyChange), event_label(Action::ApplyAccess)];
    let last_submit = history.iter().rposition(|(_, l)| submitted_labels.contains(l)).unwrap_or(0);
    let when = |a: Action| -> String {
        history[last_submit..]
            .iter()
            .rev()
            .find(|(_, l)| *l == event_label(a))
            .map(|(t, _)| format!("（{}）", date(*t)))
            .unwrap_or_default()
    };
    // Timeline: platform review → SMS verification → authority review → filed.
    let (p, sms, a, f) = {
        use beian_core::state::{FilingState as S, SmsVerifyStatus as Sms};
        match info.state() {
            S::PlatformReview => ("now", "", "", ""),
            S::PlatformRejected => ("bad", "", "", ""),
            S::AuthorityReview { sms: Sms::Waiting | Sms::TimedOut } => ("done", "now", "", ""),
            S::AuthorityReview { sms: Sms::Done } => ("done", "done", "now", ""),
            S::AuthorityRejected => ("done", "done", "bad", ""),
            S::Filed { .. } | S::Changing { .. } => ("done", "done", "done", "done"),
            S::NotFiled => ("", "", "", ""),
        }
    };
    // An expected date only while the step is under way (never after a rejection).
    let due = order
        .as_ref()
        .and_then(|o| o.order.review_due_at)
        .filter(|_| p == "now")
        .map(|d| format!("（预计 {} 前完成）", date(d)))
        .unwrap_or_default();
    let authority = format!(
        "（一般1至20个工作日，预计 {} 至 {}）",
        cal.add_working_days(today, 1).format("%m月%d日"),
        cal.add_working_days(today, 20).format("%m月%d日")
    );
    let principal_change = or_page!(s.svc.mini_programs().principal_change_required(&appid).await, &sess);
    let sms_pending = s.svc.filings().sms_pending(&appid).await.ok().flatten();
    let numbers = order.as_ref().and_then(|v| {
        Some((v.order.subject_record_number.as_ref()?, v.order.service_record_number.as_ref()?))
    });
    let body = html! {
        h1 { (mp.name) " " small.muted { (appid) } }
        @if submitted && info.state().in_platform_review() && info.change.is_some() {
            div.ok-box #submitted role="status" {
                strong { "变更备案已提交" } "：变更进入平台初审，审核期间小程序保持已备案状态，结果会通过站内信通知你。"
            }
        }
        @if submitted && info.state() == beian_core::state::FilingState::PlatformReview {
            div.ok-box #submitted role="status" {
                strong { "提交成功" } "：备案申请已进入平台初审，结果会通过站内信通知你。"
            }
        }
        @if let Some(at) = principal_change {
            (principal_change_banner(&appid, at, can_file))
        }
        div.card {
            p { "当前状态：" strong #status-label { (status_label(&info)) } }
            ol.timeline #timeline {
                li class=(p) {
                    "平台初审"
                    @match p {
                        "now" => { (due) },
                        "bad" => { "：未通过" (when(Action::PlatformReject)) },
                        _ => { (when(Action::PlatformApprove)) },
                    }
                }
                li class=(sms) { "工信部短信核验（24小时内）" (when(Action::SmsVerified)) }
                li class=(a) {
                    "管局审核"
                    @match a {
                        "now" => { (authority) },
                        "bad" => { "：未通过" (when(Action::AuthorityReject)) },
                        _ => {},
                    }
                }
                li class=(f) { "备案完成" (when(Action::AuthorityApprove)) }
            }
            @if !history.is_empty() {
                details #history {
                    summary { "办理记录" }
                    ul { @for (t, l) in history.iter().rev() { li { (date(*t)) " " (l) } } }
                }
            }
            @if let Some((deadline, phones)) = &sms_pending {
                div.banner {
                    div {
                        strong { "请负责人完成短信核验" }
                        "：工信部已向 " (phones.join("、")) " 发送验证码，请在 " (date(*deadline))
                        " 前打开 " a href="/miit/verify" { "短信核验页面" }
                        "，输入手机号、身份证号后6位和验证码。逾期订单将退回平台。"
                    }
                }
            }
            @if !info.audit_data.is_empty() {
                div.error-box {
                    strong { "审核驳回原因" }
                    ul #rejections {
                        @for a in &info.audit_data {
                            li { strong { (a.key_name) } "：" (a.error) br; span.muted { "修改建议：" (a.suggest) } }
                        }
                    }
                }
                @if can_file {
                    p {
                        a.btn #resubmit href={ "/console/apps/" (appid) "/filing?resubmit=1" } { "修改后重新提交" }
                        " "
                        a class="btn secondary" #open-ticket href={ "/console/tickets?appid=" (appid) } { "看不懂？提交工单" }
                    }
                }
            }
            @if let Some((sn, svn)) = numbers {
                p {
                    "主体备案号：" strong { (sn) } br;
                    "服务备案号：" strong #service-number { (svn) }
                }
                p { "请在小程序显著位置（如“关于”页底部）展示服务备案号。小程序不渲染 HTML 链接：展示文字即可，用户点击时可把工信部备案查询网址复制给用户。" }
                (snippet("snippet-text", "展示的文字", svn))
                (snippet("snippet-wxml", "WXML", &WXML_SNIPPET.trim_end().replace("{number}", svn)))
                (snippet("snippet-js", "JS（页面的方法）", JS_SNIPPET))
            }
            @if info.status >= 1024 && can_file {
                @if info.available == 1 {
                    p { a.btn href={ "/console/apps/" (appid) "/filing" } { "去备案" } " " (access_link(&appid)) }
                } @else if let Some(r) = &info.unavailable_reason {
                    div.error-box { (r) }
                }
            }
            (access_note(&info))
        }
        @if member.is_admin() {
            p { a #members-link href={ "/console/apps/" (appid) "/members" } { "成员管理" } }
        }
        (change_card(&sess, &appid, &info, can_file))
        @if can_file && info.state() == beian_core::state::FilingState::PlatformReview {
            div.card {
                h2 { "撤回申请" }
                p { "平台审核完成前可以撤回，撤回后可修改再提交。" }
                form method="post" action={ "/console/apps/" (appid) "/withdraw" } {
                    (csrf_field(&sess))
                    button.secondary type="submit" #withdraw { "撤回备案申请" }
                }
            }
        }
        @if can_file && info.state() == (beian_core::state::FilingState::Filed { canceling: false }) {
            div.card {
                h2 { "注销备案" }
                form method="post" action={ "/console/apps/" (appid) "/cancel" } {
                    (csrf_field(&sess))
                    label.field {
                        span { "注销类型" }
                        select name="cancel_type" {
                            option value="2" { "注销小程序备案（仅注销本小程序的服务备案号）" }
                            option value="1" { "注销主体备案（主体及其下所有小程序的备案均被注销）" }
                        }
                    }
                    label.field {
                        span { "注销原因" }
                        select name="reason_type" {
                            option value="1" { "不再运营该小程序" }
                            option value="2" { "主体信息发生变更，需注销后重新备案" }
                        }
                    }
                    label {
                        input type="checkbox" name="confirm" value="1" required;
                        " 我已知晓：注销经负责人短信确认后立即生效且不可撤销，备案号将失效。"
                    }
                    p { button.danger type="submit" { "申请注销" } }
                }
                (cancel_access_link(&appid))
            }
        }
        p {
            a href={ "/console/apps/" (appid) "/providers" } { "已授权的服务商" }
            " · "
            a href={ "/console/apps/" (appid) "/webhook" } { "Webhook 推送" }
            a #history-link href={ "/console/apps/" (appid) "/history" } { "备案历史" }
            " · "
            a href="/console/messages" { "站内信" }
        }
    };
    layout(&mp.name, Some(&sess), unread(&s, &sess).await, body).into_response()
}

/// 接入已有备案: the way to connect a record filed elsewhere (beside 去备案).
fn access_link(appid: &str) -> maud::Markup {
    html! { a.btn.secondary #access-link href={ "/console/apps/" (appid) "/access" } { "接入已有备案" } }
}

/// A new access under way (or rejected): the number it connects.
fn access_note(info: &beian_service::EntranceInfo) -> maud::Markup {
    html! {
        @if let Some(a) = &info.access {
            p #access-note { "接入已有备案：服务备案号 " strong { (a.service_number) } "（管局确认后不产生新的备案号）" }
        }
    }
}

/// 取消接入: only this platform's access; the page spells the consequences out.
fn cancel_access_link(appid: &str) -> maud::Markup {
    html! {
        p {
            "只想让本小程序不再通过本平台接入、保留工信部的备案？"
            a #cancel-access-link href={ "/console/apps/" (appid) "/cancel-access" } { "取消接入" }
        }
    }
}

/// 变更备案 beside the filed record: the open change's stage (platform review, the authority
/// with its SMS state, rejected with the reasons and a way to fix and resubmit) and withdraw
/// while it is before the authority; on a plainly filed record, the way to start one.
fn change_card(
    sess: &Session,
    appid: &str,
    info: &beian_service::EntranceInfo,
    can_file: bool,
) -> maud::Markup {
    use beian_core::state::{ChangeStage as C, FilingState as S, SmsVerifyStatus as Sms};
    let stage = match info.state() {
        S::Changing { stage } => stage,
        S::Filed { canceling: false } if can_file => {
            return html! {
                div.card #change {
                    h2 { "变更备案" }
                    p { "主体或小程序的信息、负责人（包括小程序管理员变更后）或材料发生变化时，须在三十日内办理变更备案。变更期间小程序保持已备案状态，备案号不变。" }
                    p { a.btn #start-change href={ "/console/apps/" (appid) "/change" } { "变更备案" } }
                }
            };
        }
        _ => return html! {},
    };
    let reasons = info.change.as_ref().map(|c| c.audit_data.as_slice()).unwrap_or_default();
    let rejected = matches!(stage, C::PlatformRejected | C::AuthorityRejected);
    // Withdrawal only before the authority (REAL-WORLD.md §2).
    let withdrawable = matches!(stage, C::PlatformReview | C::PlatformRejected | C::AuthorityRejected);
    html! {
        div.card.change-card #change {
            h2 { "进行中的变更备案" }
            p { "变更状态：" strong #change-status { (stage.label()) } }
            p.muted { "已备案的信息和备案号在变更通过前保持不变；变更通过后以变更后的信息为准。" }
            @match stage {
                C::PlatformReview => { p { "平台正在审核变更内容（一般1至2个工作日）。" } },
                C::AuthorityReview { sms: Sms::Waiting } => { p #change-sms { "已提交管局：请相关负责人在24小时内完成工信部短信核验。" } },
                C::AuthorityReview { sms: Sms::TimedOut } => { p #change-sms { "短信核验已超时：平台将重新提交管局，请负责人留意新的短信。" } },
                C::AuthorityReview { sms: Sms::Done } => { p #change-sms { "短信核验已完成，管局审核中（一般1至20个工作日）。" } },
                _ => {},
            }
            @if rejected && !reasons.is_empty() {
                div.error-box {
                    strong { "变更驳回原因" }
                    ul #change-rejections {
                        @for a in reasons {
                            li { strong { (a.key_name) } "：" (a.error) br; span.muted { "修改建议：" (a.suggest) } }
                        }
                    }
                }
            }
            @if can_file {
                @if rejected {
                    p { a.btn #resubmit-change href={ "/console/apps/" (appid) "/change?resubmit=1" } { "修改后重新提交变更" } }
                }
                @if withdrawable {
                    form method="post" action={ "/console/apps/" (appid) "/withdraw" } {
                        (csrf_field(sess))
                        p.muted { "撤回后变更作废，已备案的信息保持不变。提交管局后不能撤回。" }
                        button.secondary type="submit" #withdraw-change { "撤回变更" }
                    }
                }
            }
        }
    }
}

/// What a developer pastes into a mini program page to show the filing number (WXML: a mini
/// program renders no HTML, so no `<a>`), and the page method that copies the query site.
/// Kept as files: they are WXML and JS for the developer, shown as text.
const WXML_SNIPPET: &str = include_str!("../static/beian-snippet.wxml");
const JS_SNIPPET: &str = include_str!("../static/beian-snippet.js");

/// A piece of code the developer copies: its caption, the text, a copy button.
fn snippet(id: &str, caption: &str, text: &str) -> maud::Markup {
    html! {
        div.snippet-box {
            small.muted { (caption) }
            code.snippet id=(id) { (text) }
            button.secondary data-copy=(id) type="button" { "复制" }
        }
    }
}

pub(crate) async fn post_guard(
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
    let mut rows = Vec::new();
    for a in or_page!(s.svc.providers().authorizations_of(&appid).await, &sess) {
        let name = or_page!(s.svc.providers().provider(&a.component_appid).await, &sess).name;
        let sets: Vec<String> = a.scopes.iter().map(|x| x.to_string()).collect();
        rows.push(html! {
            tr {
                td { (name) br; small.muted { (a.component_appid) } }
                td { "权限集 " (sets.join("、")) }
                td { (date(a.updated_at)) }
                td {
                    @if member.is_admin() {
                        form method="post" action={ "/console/apps/" (appid) "/providers/revoke" } {
                            (csrf_field(&sess))
                            input type="hidden" name="component_appid" value=(a.component_appid);
                            button.secondary type="submit" { "取消授权" }
                        }
                    }
                }
            }
        });
    }
    let body = html! {
        div.card {
            h1 { "已授权的服务商" }
            table.stack {
                tr.head { th { "服务商" } th { "权限" } th { "授权时间" } th {} }
                @for r in &rows { (r) }
                @if rows.is_empty() {
                    tr { td colspan="4" class="muted" { "尚未授权任何服务商。服务商会发给你授权链接，在链接页面确认即可。" } }
                }
            }
        }
    };
    layout("服务商", Some(&sess), unread(&s, &sess).await, body).into_response()
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
    let mut cards = Vec::new();
    for m in or_page!(s.svc.accounts().memberships(&sess.account.id).await, &sess) {
        let name = or_page!(s.svc.mini_programs().mini_program(&m.appid).await, &sess).name;
        let (list, unread_n) = or_page!(s.svc.mini_programs().messages(&m.appid, 50).await, &sess);
        // Shown in a form that saves them back: a failed read must not offer defaults.
        let prefs = or_page!(s.svc.mini_programs().notify_prefs(&m.appid).await, &sess);
        let info = or_page!(s.svc.filings().entrance_info(&m.appid).await, &sess);
        let may_file = m.can(Access::Can(Permission::File)) && info.status >= 1024 && info.available == 1;
        cards.push(html! {
            div.card {
                h2 { (name) " " small.muted { "未读 " (unread_n) } }
                ul.messages {
                    @for x in &list {
                        li.message {
                            strong {
                                @if x.read_at.is_none() { span.unread-dot title="未读" {} span.sr-only { "未读：" } }
                                (x.title)
                            }
                            " " small.muted { (date(x.created_at)) } br;
                            (message_body(&x.body, m.is_admin()))
                            @if may_file && x.body.contains("去备案") {
                                p { a.btn href={ "/console/apps/" (m.appid) "/filing" } { "去备案" } }
                            }
                            @if x.read_at.is_none() {
                                form method="post" action="/console/messages/read" {
                                    (csrf_field(&sess))
                                    input type="hidden" name="appid" value=(m.appid);
                                    input type="hidden" name="id" value=(x.id);
                                    button.secondary type="submit" { "标为已读" }
                                }
                            }
                        }
                    }
                    @if list.is_empty() { li.muted { "暂无站内信。" } }
                }
                form method="post" action="/console/prefs" {
                    (csrf_field(&sess))
                    input type="hidden" name="appid" value=(m.appid);
                    "通知方式：站内信（始终）"
                    label { input type="checkbox" name="sms" value="1" checked[prefs.sms]; " 短信" }
                    " "
                    label { input type="checkbox" name="email" value="1" checked[prefs.email]; " 邮件" }
                    " "
                    label { input type="checkbox" name="webhook" value="1" checked[prefs.webhook]; " 模板消息（Webhook）" }
                    " "
                    button.secondary type="submit" { "保存" }
                }
            }
        });
    }
    let body = html! { h1 { "站内信" } @for c in &cards { (c) } };
    layout("站内信", Some(&sess), unread(&s, &sess).await, body).into_response()
}

/// A 站内信's text with its addresses as links. The face-verification link is the admin's
/// own (it verifies them as a person): other members see that there is one, not the link.
fn message_body(body: &str, admin: bool) -> maud::Markup {
    html! {
        @for (i, line) in body.split('\n').enumerate() {
            @if i > 0 { br; }
            @for (j, word) in line.split(' ').enumerate() {
                @if j > 0 { " " }
                @let (url, rest) = split_url(word);
                @if url.is_empty() {
                    (word)
                } @else if url.contains("/face/") && !admin {
                    span.muted.face-hidden { "（核身链接只发给管理员本人）" } (rest)
                } @else {
                    a href=(url) { (url) } (rest)
                }
            }
        }
    }
}

/// A word that starts with an address: (the address, what follows it, such as "；"). An
/// address ends at the first character that is not ASCII-printable.
fn split_url(word: &str) -> (&str, &str) {
    if !(word.starts_with("http://") || word.starts_with("https://") || word.starts_with("/console/")) {
        return ("", word);
    }
    let end = word.find(|c: char| !c.is_ascii_graphic()).unwrap_or(word.len());
    word.split_at(end)
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
    let mut names = Vec::new();
    for a in &appids {
        names.push(or_page!(s.svc.mini_programs().mini_program(a).await, &sess).name);
    }
    let name_of =
        |appid: &str| appids.iter().position(|a| a == appid).map(|i| names[i].as_str()).unwrap_or("");
    let mut rejections = Vec::new();
    if !selected.is_empty() && appids.contains(&selected) {
        if let Ok(info) = s.svc.filings().entrance_info(&selected).await {
            rejections = info.audit_data;
        }
    }
    let body = html! {
        div.card {
            h1 { "工单" }
            table.stack #tickets {
                @for t in &list {
                    tr {
                        td { a href={ "/console/tickets/" (t.id) } { "#" (t.id) " " (t.title) } }
                        td { (name_of(&t.appid)) " " small.muted { (t.appid) } }
                        td data-label="状态" { (t.state_label()) }
                    }
                }
                @if list.is_empty() { tr { td.muted { "还没有工单。" } } }
            }
        }
        div.card {
            h2 { "提交工单" }
            @if !rejections.is_empty() {
                div.error-box {
                    "工单将自动附上 AppID 和以下驳回通知："
                    ul { @for a in &rejections { li { (a.key_name) "：" (a.error) } } }
                }
            }
            form method="post" action="/console/tickets" {
                (csrf_field(&sess))
                label.field {
                    span { "小程序" }
                    select name="appid" {
                        @for (a, n) in appids.iter().zip(&names) { option value=(a) selected[*a == selected] { (n) "（" (a) "）" } }
                    }
                }
                label.field {
                    span { "标题" }
                    input type="text" name="title" required value=(if rejections.is_empty() { "" } else { "驳回原因咨询" });
                }
                label.field { span { "问题描述" } textarea name="body" required {} }
                button type="submit" #submit-ticket { "提交工单" }
            }
        }
    };
    layout("工单", Some(&sess), unread(&s, &sess).await, body).into_response()
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
    let body = html! {
        div.card {
            h1 { "#" (t.id) " " (t.title) }
            pre.muted #ticket-context { (t.context) }
            ul #thread {
                @for m in &msgs {
                    li {
                        strong {
                            @if m.author.starts_with("operator:") { "平台客服" }
                            @else { (&m.author[m.author.find(':').map(|i| i + 1).unwrap_or(0)..]) }
                        }
                        " " small.muted { (date(m.created_at)) } br;
                        (multiline(&m.body))
                    }
                }
            }
            form method="post" action={ "/console/tickets/" (t.id) "/reply" } {
                (csrf_field(&sess))
                label.field { span { "回复" } textarea name="body" required {} }
                button type="submit" { "回复" }
            }
        }
    };
    layout("工单", Some(&sess), unread(&s, &sess).await, body).into_response()
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
