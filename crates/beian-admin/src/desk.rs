//! The manual desk's pages (operators; mounted only when the desk is the authority gateway):
//! the work list (`/admin/desk`, open items first, `?open=1` leaves the closed out) and an
//! item page — what to type into the authority's own system (the application's fields as the
//! review page shows them, or the cancellation and whom it concerns) and one form per outcome
//! the operator records there (SMS pending / verified / expired, approved with the
//! authority's numbers, rejected with catalogue reasons, refused, cancellation confirmed or
//! aborted). Each form becomes one event to the platform's authority inbox
//! (`beian_authority_desk::ManualDesk::record`); numbers are checked here first so a wrong one
//! is shown at its field and nothing is sent.

use crate::auth::{check_csrf, form, get, require};
use crate::html::{date, error_box, hidden, layout};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use beian_authority_desk::{
    beijing_minute, kind_label, mask_phone, open_forms, outcome_label, sms_purpose, AuthorityEvent,
    DeskError, ItemView, ManualDesk, Operation, Operator, Receipt,
};
use beian_core::numbering::{check_service_number, check_subject_number, service_number};
use beian_core::platform::{Role, Staff};
use beian_service::review::RejectReason;
use beian_service::ServiceError;
use maud::{html, Markup};
use std::collections::HashMap;
use std::sync::Arc;

macro_rules! operator {
    ($s:expr, $headers:expr) => {
        match require(&$s, &$headers, Role::Operator).await {
            Ok(x) => x,
            Err(r) => return r,
        }
    };
}

fn desk(s: &AppState) -> Option<Arc<ManualDesk>> {
    s.desk.clone()
}

/// A failure page (a refusal in its words; anything else logged, shown as busy).
fn fail(staff: &Staff, csrf: &str, status: StatusCode, msg: &str) -> Response {
    (
        status,
        layout(
            "管局工作台",
            Some((staff, csrf)),
            html! { (error_box(msg)) p { a href="/admin/desk" { "返回工作台" } } },
        ),
    )
        .into_response()
}

fn internal(staff: &Staff, csrf: &str, what: impl std::fmt::Display) -> Response {
    tracing::error!("desk: {what}");
    fail(staff, csrf, StatusCode::SERVICE_UNAVAILABLE, "系统繁忙，请稍后再试")
}

/// How long an item has waited (open) or took (closed), in words.
fn waited(seconds: i64) -> String {
    let m = seconds.max(0) / 60;
    match (m / 1440, (m % 1440) / 60, m % 60) {
        (0, 0, m) => format!("{m}分钟"),
        (0, h, m) => format!("{h}小时{m}分钟"),
        (d, h, _) => format!("{d}天{h}小时"),
    }
}

/// The work list.
pub async fn list(State(s): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let (staff, csrf) = operator!(s, headers);
    let Some(desk) = desk(&s) else { return StatusCode::NOT_FOUND.into_response() };
    let open_only = query.as_deref().is_some_and(|q| q.split('&').any(|p| p == "open=1"));
    let items = match desk.items(open_only).await {
        Ok(x) => x,
        Err(e) => return internal(&staff, &csrf, e),
    };
    let now = s.svc.now().timestamp();
    let open = items.iter().filter(|i| i.open).count();
    let body = html! {
        h1 { "管局工作台" }
        p.muted {
            "每条待办是一次向管局的报送：请在管局备案系统中办理，再在此登记管局的结果（短信核验、审核结果、注销确认）。"
            "登记后平台即按管局结果更新备案状态。"
        }
        p {
            (open) " 条待办 · "
            @if open_only { a href="/admin/desk" { "显示全部（含已办结）" } } @else { a href="/admin/desk?open=1" #open-only { "只看待办" } }
        }
        @if items.is_empty() {
            p.muted #desk-empty { @if open_only { "没有待办。" } @else { "还没有报送。" } }
        } @else {
            table #desk-items {
                tr { th { "类型" } th { "小程序" } th { "提交时间" } th { "等待" } th { "状态" } }
                @for i in &items {
                    tr.row data-state=(if i.open { "open" } else { "closed" }) data-id=(i.id) data-appid=(i.appid) data-kind=(i.kind) data-round=(i.round) {
                        td { a href={ "/admin/desk/" (i.id) } { (kind_label(&i.kind)) } }
                        td { (i.name) br; small.muted { (i.appid) } }
                        td { (date(i.submitted_at)) }
                        td { (waited(i.closed_at.unwrap_or(now) - i.submitted_at)) }
                        td {
                            @if i.open { strong { "待办" } " · " } @else { span.muted { "已办结" } " · " }
                            (outcome_label(&i.outcome))
                        }
                    }
                }
            }
        }
    };
    layout("管局工作台", Some((&staff, &csrf)), body).into_response()
}

/// What a form left to correct: a message per field, one for the whole form, and the values
/// typed (shown again).
#[derive(Default)]
struct Feedback {
    notice: Option<String>,
    error: Option<String>,
    fields: HashMap<&'static str, String>,
    typed: HashMap<&'static str, String>,
}

/// The item page.
pub async fn item(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    RawQuery(query): RawQuery,
) -> Response {
    let (staff, csrf) = operator!(s, headers);
    let notice = match query.as_deref().and_then(|q| q.split('&').find_map(|p| p.strip_prefix("done="))) {
        Some("applied") => Some("已登记，管局结果已同步到平台。".to_string()),
        Some("ignored") => Some("已登记，但该备案订单的状态已变化，这条结果未改变订单。".to_string()),
        Some("duplicate") => Some("已记录：这条结果此前已登记，未重复提交。".to_string()),
        _ => None,
    };
    page(&s, &staff, &csrf, id, Feedback { notice, ..Feedback::default() }, StatusCode::OK).await
}

async fn page(
    s: &AppState,
    staff: &Staff,
    csrf: &str,
    id: i64,
    fb: Feedback,
    status: StatusCode,
) -> Response {
    let Some(desk) = desk(s) else { return StatusCode::NOT_FOUND.into_response() };
    let view = match desk.item(id).await {
        Ok(Some(v)) => v,
        Ok(None) => return fail(staff, csrf, StatusCode::NOT_FOUND, "没有这条待办"),
        Err(e) => return internal(staff, csrf, e),
    };
    let ctx = match s.svc.filings().number_context(&view.item.appid).await {
        Ok(c) => c,
        Err(e) => return internal(staff, csrf, e),
    };
    let reasons = match s.svc.review().reasons().await {
        Ok(r) => r,
        Err(e) => return internal(staff, csrf, e),
    };
    let item = &view.item;
    let body = html! {
        h1 { (kind_label(&item.kind)) "：" (item.name) " " small.muted { (item.appid) } }
        p {
            "提交时间 " (date(item.submitted_at)) " · 第" (item.round) "轮 · "
            @if item.open { strong #desk-state { "待办" } } @else { span.muted #desk-state { "已办结" } }
            " · " (outcome_label(&item.outcome))
        }
        @if let Some(n) = &fb.notice { div.card #desk-notice role="status" { (n) } }
        @if let Some(e) = &fb.error { (error_box(e)) }
        (what_to_file(&view, ctx.as_ref(), &s.svc.dictionaries()))
        @if item.open {
            (forms(&view, ctx.as_ref(), &reasons, csrf, &fb, s.svc.now().timestamp()))
        }
        div.card {
            h2 { "登记记录" }
            @if view.records.is_empty() {
                p.muted { "尚未登记。" }
            } @else {
                table #desk-records {
                    tr { th { "时间" } th { "结果" } th { "内容" } th { "登记人" } th { "平台处理" } }
                    @for r in &view.records {
                        tr {
                            td { (date(r.recorded_at)) }
                            td { (outcome_label(&r.form)) }
                            td { (r.summary) }
                            td { (r.staff_name) }
                            td { (match r.receipt.as_str() { "applied" => "已生效", "ignored" => "订单状态已变化，未生效", _ => "此前已登记" }) }
                        }
                    }
                }
            }
        }
        p { a href="/admin/desk" { "返回工作台" } }
    };
    (status, layout("管局工作台", Some((staff, csrf)), body)).into_response()
}

/// What the operator types into the authority's system.
fn what_to_file(
    view: &ItemView,
    ctx: Option<&beian_service::authority::NumberContext>,
    dict: &beian_core::dict::Dictionaries,
) -> Markup {
    let Some(op) = &view.operation else {
        return html! { div.card { h2 { "报送内容" } p.muted { "个人信息已按保留期限删除。" } } };
    };
    html! {
        div.card #desk-operation {
            h2 { "在管局系统中填写" }
            @if let Some(c) = ctx {
                p {
                    "主体所在省份：" (c.province) "（" (c.province_abbr) "）"
                    @if let Some(n) = &c.subject_number { " · 主体已有主体备案号：" strong { (n) } }
                }
            }
            @match op {
                Operation::Cancel { cancel, record_number, principals, .. } => {
                    p { (beian_authority_desk::cancel_label(*cancel)) }
                    p { "备案号：" strong { (if record_number.is_empty() { "（平台未持有）" } else { record_number.as_str() }) } }
                    table {
                        tr { th { "需确认的负责人" } th { "手机号" } th { "证件号后6位" } }
                        @for p in principals { tr { td { (p.name) } td { (p.mobile) } td { (p.id_suffix) } } }
                    }
                },
                Operation::Attachments { media_ids, .. } => {
                    p { "补充材料（平台媒体编号）：" }
                    ul { @for m in media_ids { li { (m) } } }
                },
                Operation::NewSubjectAndService { payload, .. }
                | Operation::NewService { payload, .. }
                | Operation::NewAccess { payload, .. }
                | Operation::Change { payload, .. } => {
                    @if let Operation::NewService { subject_number, .. } = op { p { "新增服务，沿用主体备案号 " strong { (subject_number) } } }
                    @if let Operation::NewAccess { service_number, .. } | Operation::Change { service_number, .. } = op {
                        p { "服务备案号 " strong { (service_number) } }
                    }
                    // As the reviewer read it: the wizard's sections, names instead of codes.
                    @let sections = beian_web::application::sections(payload, dict);
                    @let appid = &view.item.appid;
                    div #fields {
                        (beian_web::application::table(&sections, &|id| format!("/admin/review/{appid}/media/{id}")))
                    }
                },
            }
        }
    }
}

/// A field with its error under it.
fn field(fb: &Feedback, name: &'static str, title: &str, value: &str, placeholder: &str) -> Markup {
    let value = fb.typed.get(name).map(String::as_str).unwrap_or(value);
    html! {
        label.field {
            span { (title) }
            input type="text" name=(name) id=(name) value=(value) placeholder=(placeholder);
            @if let Some(e) = fb.fields.get(name) { span.error role="alert" id={ (name) "-error" } { (e) } }
        }
    }
}

fn forms(
    view: &ItemView,
    ctx: Option<&beian_service::authority::NumberContext>,
    reasons: &[beian_core::platform::Reason],
    csrf: &str,
    fb: &Feedback,
    now: i64,
) -> Markup {
    let item = &view.item;
    let available = open_forms(&item.kind, &item.outcome);
    let action = format!("/admin/desk/{}/record", item.id);
    let phones: Vec<String> = view
        .operation
        .as_ref()
        .map(|op| op.principals().iter().map(|p| mask_phone(&p.mobile)).collect())
        .unwrap_or_default();
    let has = |f: &str| available.contains(&f);
    let subject = ctx.and_then(|c| c.subject_number.clone()).unwrap_or_default();
    let example = if subject.is_empty() {
        let abbr = ctx.map(|c| c.province_abbr.as_str()).unwrap_or("粤");
        service_number(&format!("{abbr}ICP备2026012345号"), 1)
    } else {
        service_number(&subject, 1)
    };
    // A new access and a change are confirmed with the record's own numbers.
    let held_service = ctx.and_then(|c| c.service_number.clone()).unwrap_or_default();
    let access = item.kind == "new_access";
    let cancel_access = item.kind == "cancel_access";
    html! {
        div.card #desk-forms {
            h2 { "登记管局结果" }
            @if access {
                p #desk-access-number {
                    "新增接入：请在管局系统中查询服务备案号 " strong { (held_service) }
                    "，核对备案主体与申请一致后登记确认（备案号不变）或驳回（备案号不存在、主体不一致）。"
                }
            }
            @if has("sms_pending") {
                form method="post" action=(action) #form-sms-pending {
                    (hidden(csrf))
                    input type="hidden" name="form" value="sms_pending";
                    h3 { "管局已发送核验短信" }
                    (field(fb, "deadline", "核验截止时间（北京时间）", &beijing_minute(now + 24 * 3600), "2026-12-03 10:00"))
                    p { "尚未完成核验的手机号：" }
                    @for p in &phones { label { input type="checkbox" name="phone" value=(p) checked; " " (p) } " " }
                    button type="submit" #record-sms-pending { "登记短信待核验" }
                }
            }
            @if has("sms_verified") {
                form method="post" action=(action) #form-sms-verified {
                    (hidden(csrf))
                    input type="hidden" name="form" value="sms_verified";
                    button type="submit" #record-sms-verified { "登记短信核验完成（进入管局审核）" }
                }
            }
            @if has("sms_expired") {
                form method="post" action=(action) #form-sms-expired {
                    (hidden(csrf))
                    input type="hidden" name="form" value="sms_expired";
                    button.secondary type="submit" #record-sms-expired { "登记短信核验超时（退回平台）" }
                }
            }
            @if has("approved") {
                form method="post" action=(action) #form-approved
                    data-abbr=(ctx.map(|c| c.province_abbr.as_str()).unwrap_or("")) data-subject=(subject)
                    data-service=(held_service) {
                    (hidden(csrf))
                    input type="hidden" name="form" value="approved";
                    h3 { "管局审核通过" }
                    p.muted {
                        "照管局系统填写备案号。主体备案号以主体所在省份简称开头（“"
                        (ctx.map(|c| c.province_abbr.as_str()).unwrap_or("")) "ICP备…号”）"
                        @if !subject.is_empty() { "，新增服务沿用主体已有的备案号" }
                        "；服务备案号为主体备案号加“-序号X”，例如“" (example) "”。"
                    }
                    (field(fb, "subject_number", "主体备案号", &subject, "粤ICP备2026012345号"))
                    (field(fb, "service_number", "服务备案号", &held_service, &example))
                    button type="submit" #record-approved { "登记审核通过" }
                }
            }
            @if has("rejected") {
                form method="post" action=(action) #form-rejected {
                    (hidden(csrf))
                    input type="hidden" name="form" value="rejected";
                    h3 { "管局驳回（从原因库选择或填写）" }
                    @for r in reasons.iter().filter(|r| r.active) {
                        label.reason { input type="checkbox" name="reason_id" value=(r.id); " " strong { (r.key_name) } "：" (r.error) }
                        br;
                    }
                    (field(fb, "key_name", "字段", "", ""))
                    (field(fb, "error", "原因", "", ""))
                    (field(fb, "suggest", "修改建议", "", ""))
                    button.danger type="submit" #record-rejected { "登记驳回" }
                }
            }
            @if has("refused") {
                form method="post" action=(action) #form-refused {
                    (hidden(csrf))
                    input type="hidden" name="form" value="refused";
                    h3 { "管局未受理（报送被拒收）" }
                    (field(fb, "code", "管局返回代码", "", "1017"))
                    (field(fb, "reason", "原因", "", "已有变更在办理中"))
                    button.secondary type="submit" #record-refused { "登记未受理" }
                }
            }
            @if has("cancel_confirmed") {
                form method="post" action=(action) #form-cancel-confirmed {
                    (hidden(csrf))
                    input type="hidden" name="form" value="cancel_confirmed";
                    @if cancel_access {
                        label {
                            input type="checkbox" name="empty_shell" value="1" #empty-shell;
                            " 管局表示该备案已没有其他接入服务商（取消后成为空壳备案）"
                        }
                        br;
                        button.danger type="submit" #record-cancel-confirmed { "登记取消接入已生效" }
                    } @else {
                        button.danger type="submit" #record-cancel-confirmed { "登记注销已确认（生效）" }
                    }
                }
            }
            @if has("cancel_aborted") {
                form method="post" action=(action) #form-cancel-aborted {
                    (hidden(csrf))
                    input type="hidden" name="form" value="cancel_aborted";
                    @if cancel_access {
                        (field(fb, "abort_reason", "管局不同意取消接入的原因", "", "1025 该备案仅剩本接入服务商的接入"))
                        button.secondary type="submit" #record-cancel-aborted { "登记取消接入被拒（备案保留）" }
                    } @else {
                        button.secondary type="submit" #record-cancel-aborted { "登记注销未确认（备案保留）" }
                    }
                }
            }
        }
    }
}

/// Record one outcome. The id is read as text so the body is always read first: a request
/// answered before its body was read makes the server drop the connection under the client.
pub async fn record(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (staff, csrf) = operator!(s, headers);
    let f = form(&body);
    if let Err(r) = check_csrf(&staff, &csrf, &f) {
        return r;
    }
    let Ok(id) = id.parse::<i64>() else {
        return fail(&staff, &csrf, StatusCode::NOT_FOUND, "没有这条待办");
    };
    let Some(desk) = desk(&s) else { return StatusCode::NOT_FOUND.into_response() };
    let item = match desk.item(id).await {
        Ok(Some(v)) => v.item,
        Ok(None) => return fail(&staff, &csrf, StatusCode::NOT_FOUND, "没有这条待办"),
        Err(e) => return internal(&staff, &csrf, e),
    };
    let mut fb = Feedback::default();
    let text = |k: &str| get(&f, k).trim().to_string();
    let event = match get(&f, "form") {
        "sms_pending" => {
            let deadline = chrono::NaiveDateTime::parse_from_str(&text("deadline"), "%Y-%m-%d %H:%M")
                .ok()
                .and_then(|d| d.and_local_timezone(beian_core::time::beijing()).single())
                .map(|d| d.timestamp());
            match deadline {
                Some(deadline) => AuthorityEvent::SmsPending {
                    purpose: sms_purpose(&item.kind),
                    deadline,
                    phones: f
                        .iter()
                        .filter(|(k, _)| k == "phone")
                        .map(|(_, v)| v.trim().to_string())
                        .collect(),
                },
                None => {
                    fb.fields.insert("deadline", "请按“2026-12-03 10:00”的格式填写北京时间".into());
                    fb.typed.insert("deadline", text("deadline"));
                    return page(&s, &staff, &csrf, id, fb, StatusCode::BAD_REQUEST).await;
                }
            }
        }
        "sms_verified" => AuthorityEvent::SmsVerified,
        "sms_expired" => AuthorityEvent::SmsExpired,
        "cancel_confirmed" => AuthorityEvent::CancelConfirmed {
            empty_shell: item.kind == "cancel_access" && get(&f, "empty_shell") == "1",
        },
        "cancel_aborted" => AuthorityEvent::CancelAborted {
            reason: if item.kind == "cancel_access" { text("abort_reason") } else { String::new() },
        },
        "approved" => {
            let (subject, service) = (text("subject_number"), text("service_number"));
            fb.typed.insert("subject_number", subject.clone());
            fb.typed.insert("service_number", service.clone());
            let ctx = match s.svc.filings().number_context(&item.appid).await {
                Ok(c) => c,
                Err(e) => return internal(&staff, &csrf, e),
            };
            if let Some(c) = &ctx {
                if let Err(e) = check_subject_number(&subject, &c.province_abbr) {
                    fb.fields.insert("subject_number", e.0);
                } else if let Some(held) = c.subject_number.as_deref().filter(|h| *h != subject) {
                    fb.fields.insert(
                        "subject_number",
                        format!("该主体已有主体备案号“{held}”，新增服务沿用该备案号"),
                    );
                }
            }
            if subject.is_empty() {
                fb.fields.insert("subject_number", "请填写管局下发的主体备案号".into());
            }
            if let Err(e) = check_service_number(&service, &subject) {
                fb.fields.insert("service_number", e.0);
            }
            if !fb.fields.is_empty() {
                return page(&s, &staff, &csrf, id, fb, StatusCode::BAD_REQUEST).await;
            }
            AuthorityEvent::Approved { subject_number: subject, service_number: service }
        }
        "rejected" => {
            let mut picked: Vec<RejectReason> = f
                .iter()
                .filter(|(k, _)| k == "reason_id")
                .filter_map(|(_, v)| v.parse().ok())
                .map(|id| RejectReason { reason_id: Some(id), ..RejectReason::default() })
                .collect();
            if !text("key_name").is_empty() || !text("error").is_empty() {
                picked.push(RejectReason {
                    reason_id: None,
                    key_name: text("key_name"),
                    error: text("error"),
                    suggest: text("suggest"),
                });
            }
            match s.svc.review().reasons_from_catalogue(picked).await {
                Ok(reasons) => AuthorityEvent::Rejected { reasons },
                Err(ServiceError::Refused { errmsg, .. }) => {
                    for k in ["key_name", "error", "suggest"] {
                        fb.typed.insert(k, text(k));
                    }
                    fb.error = Some(errmsg);
                    return page(&s, &staff, &csrf, id, fb, StatusCode::BAD_REQUEST).await;
                }
                Err(e) => return internal(&staff, &csrf, e),
            }
        }
        "refused" => {
            let (code, reason) = (text("code"), text("reason"));
            if code.is_empty() || code.chars().count() > 16 {
                fb.fields.insert("code", "请填写管局返回的代码（16个字符以内）".into());
            }
            if reason.is_empty() || reason.chars().count() > 500 {
                fb.fields.insert("reason", "请填写管局给出的原因（500字以内）".into());
            }
            if !fb.fields.is_empty() {
                fb.typed.insert("code", code);
                fb.typed.insert("reason", reason);
                return page(&s, &staff, &csrf, id, fb, StatusCode::BAD_REQUEST).await;
            }
            AuthorityEvent::Refused { code, reason }
        }
        _ => return fail(&staff, &csrf, StatusCode::BAD_REQUEST, "未知的登记类型"),
    };
    let by = Operator { id: staff.id.clone(), name: staff.name.clone() };
    match desk.record(id, &by, event).await {
        Ok(receipt) => {
            let done = match receipt {
                Receipt::Applied => "applied",
                Receipt::Ignored => "ignored",
                Receipt::Duplicate => "duplicate",
            };
            Redirect::to(&format!("/admin/desk/{id}?done={done}")).into_response()
        }
        Err(DeskError::Refused(m)) => {
            fb.error = Some(format!("管局结果未登记：{m}"));
            page(&s, &staff, &csrf, id, fb, StatusCode::BAD_REQUEST).await
        }
        Err(e) => internal(&staff, &csrf, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_time_in_words() {
        assert_eq!(waited(59), "0分钟");
        assert_eq!(waited(3 * 3600 + 120), "3小时2分钟");
        assert_eq!(waited(2 * 86400 + 3600), "2天1小时");
    }
}
