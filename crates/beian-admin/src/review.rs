//! The reviewer's pages: the queue (filters, overdue first, claims, keyboard) and the review
//! page (typed fields beside their materials, rule findings, the diff against the previous
//! submission, the subject's other filings, approve / reject with catalogue reasons).

use crate::auth::{check_csrf, form, get, require};
use crate::html::{date, error_box, hidden, layout};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use beian_core::errcode;
use beian_core::platform::{Role, Staff};
use beian_core::state::ChangeStage;
use beian_service::review::RejectReason;
use beian_service::ServiceError;
use beian_web::application;
use maud::{html, PreEscaped};

fn q(query: &Option<String>, key: &str) -> String {
    query
        .as_deref()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix(&format!("{key}="))))
        .map(crate::auth::decode)
        .unwrap_or_default()
}

/// The value of a service call, or (returned from the handler) the error page: a failed read
/// is shown to the reviewer, never replaced by an empty default.
macro_rules! or_error_page {
    ($e:expr, $staff:expr, $csrf:expr) => {
        match $e {
            Ok(x) => x,
            Err(e) => return error_page($staff, $csrf, e),
        }
    };
}

fn error_page(staff: &Staff, csrf: &str, e: ServiceError) -> Response {
    let (status, msg) = match e {
        ServiceError::Refused { errcode: code, errmsg } => (
            if code == errcode::CONFLICT || code == errcode::WRONG_REVIEW_STATE {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            },
            errmsg,
        ),
        other => {
            tracing::error!("admin: {other}");
            (StatusCode::SERVICE_UNAVAILABLE, "系统繁忙，请稍后再试".into())
        }
    };
    (
        status,
        layout(
            "操作未完成",
            Some((staff, csrf)),
            html! {
                (error_box(&msg))
                p { a href="/admin" { "返回审核队列" } }
            },
        ),
    )
        .into_response()
}

/// The review queue.
pub async fn queue(State(s): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Reviewer).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (status_f, prov_f, type_f, overdue_f) =
        (q(&query, "status"), q(&query, "province"), q(&query, "subject_type"), q(&query, "overdue"));
    let items = or_error_page!(s.svc.review().review_queue(1000).await, &staff, &csrf);
    let names = or_error_page!(staff_names(&s).await, &staff, &csrf);
    let dict = s.svc.dictionaries();
    let rows = items
        .iter()
        .filter(|i| status_f.is_empty() || i.status.to_string() == status_f)
        .filter(|i| prov_f.is_empty() || i.province == prov_f)
        .filter(|i| type_f.is_empty() || i.subject_type.to_string() == type_f)
        .filter(|i| overdue_f.is_empty() || i.overdue)
        .collect::<Vec<_>>();
    // What the reviewer just did, said back (the redirect after a decision carries it).
    let done_appid = q(&query, "appid");
    let done = match q(&query, "done").as_str() {
        "approved" => Some("已初审通过并提交管局："),
        "rejected" => Some("已驳回，驳回原因已通知开发者："),
        "released" => Some("已释放，订单回到队列："),
        _ => None,
    };
    let body = html! {
        @if let Some(msg) = done {
            div.ok-box #done role="status" { (msg) (done_appid) }
        }
        div.card {
            h1 { "审核队列" }
            form method="get" action="/admin" class="filters" {
                select name="status" aria-label="状态" {
                    option value="" { "全部状态" }
                    option value="2" selected[status_f == "2"] { "平台审核中" }
                    option value="4" selected[status_f == "4"] { "短信核验超时" }
                }
                select name="province" aria-label="省份" {
                    option value="" { "全部省份" }
                    @for p in dict.districts() {
                        option value=(p.code) selected[p.code.to_string() == prov_f] { (p.name) }
                    }
                }
                select name="subject_type" aria-label="主体性质" {
                    option value="" { "全部主体性质" }
                    @for t in dict.subject_types() {
                        option value=(t.type_id) selected[t.type_id.to_string() == type_f] { (t.name) }
                    }
                }
                label { input type="checkbox" name="overdue" value="1" checked[!overdue_f.is_empty()]; " 只看超时" }
                " "
                button.secondary type="submit" { "筛选" }
            }
            p.muted { "键盘：j / k 上下选择，Enter 打开。超时的订单排在最前。" }
            @if rows.is_empty() {
                p #empty-queue {
                    @if items.is_empty() { "队列为空：没有待平台审核的订单。" }
                    @else { "没有符合筛选条件的订单。" }
                }
            }
            table.stack #queue {
                tr.head { th { "小程序" } th { "状态" } th { "省份" } th { "主体性质" } th { "初审截止" } th { "认领人" } }
                @for (n, i) in rows.iter().enumerate() {
                    @let prov = i.province.parse().ok().and_then(|c| dict.region_at(1, c)).map(|r| r.name.to_string()).unwrap_or_default();
                    tr.row data-n=(n) data-href={ "/admin/review/" (i.appid) } {
                        td {
                            @if i.change { span.badge.change { "变更" } " " }
                            @if i.access_number.is_some() { span.badge.change title="接入已有备案：管局确认后不产生新的备案号" { "新增接入" } " " }
                            a href={ "/admin/review/" (i.appid) } { (i.name) } br; small.muted { (i.appid) }
                        }
                        td {
                            // The queue holds orders under platform review and those the SMS window returned.
                            @if i.status == beian_core::state::FilingState::PlatformReview.status_code() {
                                "平台审核中"
                            } @else {
                                "短信核验超时，待平台处理"
                            }
                        }
                        td data-label="省份" { (prov) }
                        td data-label="主体性质" { @if let Some(t) = dict.subject_type(i.subject_type) { (t.name) } }
                        td data-label="初审截止" {
                            @if let Some(d) = i.review_due_at { (date(d)) }
                            @if i.overdue { " " span.badge { "已超时" } }
                        }
                        td data-label="认领人" { (claimer(&names, i.claimed_by.as_deref()).unwrap_or("—")) }
                    }
                }
            }
        }
        // A constant script (no interpolation): a script's text is raw in HTML, so it is not
        // escaped (its `&&` must stay as it is).
        script { (PreEscaped(QUEUE_KEYS_JS)) }
    };
    layout("审核队列", Some((&staff, &csrf)), body).into_response()
}

/// Keyboard navigation of the queue (j / k / Enter).
const QUEUE_KEYS_JS: &str = "(function(){var rows=[].slice.call(document.querySelectorAll('tr.row'));var i=-1;function mark(){rows.forEach(function(r,k){r.classList.toggle('selected',k===i);});if(rows[i])rows[i].scrollIntoView({block:'nearest'});}\
document.addEventListener('keydown',function(e){if(e.target.tagName==='INPUT'||e.target.tagName==='SELECT')return;if(e.key==='j'){i=Math.min(i+1,rows.length-1);mark();}if(e.key==='k'){i=Math.max(i-1,0);mark();}if(e.key==='Enter'&&rows[i]){location.href=rows[i].dataset.href;}});})();";

/// The review page.
pub async fn review_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Reviewer).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(Some(view)) = s.svc.filings().order(&appid).await else {
        return error_page(
            &staff,
            &csrf,
            ServiceError::refused(errcode::UNKNOWN_APPID, "该小程序没有备案订单"),
        );
    };
    let current = match or_error_page!(
        s.svc.filings().submitted_version(&appid, view.order.versions).await,
        &staff,
        &csrf
    ) {
        Some(p) => p,
        None => {
            return error_page(
                &staff,
                &csrf,
                ServiceError::Internal(format!(
                    "{appid}: submitted version {} is missing",
                    view.order.versions
                )),
            )
        }
    };
    // A change is compared with the filed record, a resubmission with the last submission.
    let previous = or_error_page!(s.svc.filings().baseline_version(&view.order).await, &staff, &csrf);
    let mp_name = or_error_page!(s.svc.mini_programs().mini_program(&appid).await, &staff, &csrf).name;
    let dict = s.svc.dictionaries();
    // The application as the developer filled it in: the wizard's sections, Chinese labels,
    // codes decoded; the face task's outcome in words.
    let mut sections = application::sections(&current, &dict);
    // The diff against the previous submission, field by field (images side by side).
    let diff =
        previous.as_ref().map(|prev| application::diff(&application::sections(prev, &dict), &sections));
    let task = &current.icp_applets.principal_info.verify_task_id;
    let task = s.svc.materials().face_task(&appid, task).await.ok();
    application::set_face_outcome(&mut sections, task.as_ref());
    let label = beian_core::rules::label;

    // What the rules say now (time has passed since submission; some findings may be new).
    let findings = match &view.order.access_number {
        // A new access: its number is checked with the application.
        Some(number) => s.svc.filings().validate_access(&appid, number, &current).await,
        None => s.svc.filings().validate_application(&appid, &current).await,
    };
    let findings = or_error_page!(findings, &staff, &csrf);
    let findings: Vec<_> = findings
        .iter()
        .filter(|h| h.errcode != errcode::SUBJECT_IN_PROGRESS && !h.err_field.is_empty())
        .collect();

    let media_url = |id: &str| format!("/admin/review/{appid}/media/{id}");
    let siblings = or_error_page!(s.svc.filings().subject_filings(&appid).await, &staff, &csrf);
    let names = or_error_page!(staff_names(&s).await, &staff, &csrf);
    let reasons = or_error_page!(s.svc.review().reasons().await, &staff, &csrf);
    let v = view.order.row_version;
    // A change (变更备案) is decided in the same stages as a new application.
    let is_change = view.order.state.change().is_some();
    let decidable = view.order.state.in_progress()
        || matches!(
            view.order.state.change(),
            Some(ChangeStage::PlatformReview | ChangeStage::AuthorityReview { .. })
        );
    let body = html! {
        h1 {
            @if is_change { span.badge.change #change-label { "变更" } " " }
            (mp_name) " " small.muted { (appid) }
        }
        p { "状态：" (view.order.state.label()) " · 第" (view.order.versions) "次提交" }
        (access_request(&view.order))
        @if decidable {
            div.card.claim {
                p #claimer { "认领人：" (claimer(&names, view.order.claimed_by.as_deref()).unwrap_or("未认领")) }
                form method="post" action={ "/admin/review/" (appid) "/claim" } {
                    (hidden(&csrf))
                    input type="hidden" name="version" value=(v);
                    @if view.order.claimed_by.as_deref() == Some(staff.id.as_str()) {
                        input type="hidden" name="release" value="1";
                        button.secondary type="submit" #release { "释放（交还队列）" }
                    } @else if view.order.claimed_by.is_none() {
                        button.secondary type="submit" #claim { "认领" }
                    }
                }
                p.muted { a href="#decision" { "跳到审核结论" } }
            }
        }
        div.card {
            h2 { "规则引擎检查" }
            @if findings.is_empty() {
                p.muted { "规则引擎未发现问题。" }
            } @else {
                ul { @for h in &findings { li { (label(&h.err_field)) "：" (h.errmsg) } } }
            }
        }
        div.card {
            @if is_change { h2 { "变更内容（与已备案信息的差异）" } } @else { h2 { "与上次提交的差异" } }
            @match &diff {
                None => { p.muted { "首次提交。" } },
                Some(changed) if changed.is_empty() => { p.muted { "与上次提交相同。" } },
                Some(changed) => {
                    (application::diff_table("diff", if is_change { "已备案" } else { "上次提交" }, "本次提交", changed, &media_url))
                },
            }
        }
        div.card {
            h2 { "该主体的其他备案" }
            ul {
                @for f in &siblings {
                    li {
                        (f.name) " " small.muted { (f.appid) } " " (f.state.label()) " "
                        (f.service_record_number.as_deref().unwrap_or(""))
                    }
                }
                @if siblings.is_empty() { li.muted { "无" } }
            }
        }
        div.card {
            h2 { "申请信息与材料" }
            div #fields { (application::table(&sections, &media_url)) }
        }
        @if decidable {
            div.card #decision {
                h2 { "审核结论" }
                form method="post" action={ "/admin/review/" (appid) "/approve" } data-confirm={ "确认初审通过「" (mp_name) "」并提交管局？" } {
                    (hidden(&csrf))
                    input type="hidden" name="version" value=(v);
                    button type="submit" #approve {
                        @if matches!(view.order.state, beian_core::state::FilingState::AuthorityReview { .. })
                            || matches!(view.order.state.change(), Some(ChangeStage::AuthorityReview { .. })) {
                            "重新提交管局（重新发送短信）"
                        } @else {
                            "初审通过，提交管局"
                        }
                    }
                }
                form method="post" action={ "/admin/review/" (appid) "/reject" } #reject-form data-confirm={ "确认驳回「" (mp_name) "」？驳回原因会通知开发者。" } {
                    (hidden(&csrf))
                    input type="hidden" name="version" value=(v);
                    h3 { "驳回原因（从原因库选择）" }
                    @for r in reasons.iter().filter(|r| r.active) {
                        label.reason {
                            input type="checkbox" name="reason_id" value=(r.id);
                            " " strong { (r.key_name) } "：" (r.error) " " small.muted { "建议：" (r.suggest) }
                        }
                        br;
                    }
                    h3 { "或填写原因" }
                    datalist #field-names {
                        @for f in beian_core::rules::FIELDS { option value=(label(f)) { (label(f)) } }
                    }
                    label.field { span { "字段" } input type="text" name="key_name" list="field-names"; }
                    label.field { span { "原因" } input type="text" name="error"; }
                    label.field { span { "修改建议" } input type="text" name="suggest"; }
                    button.danger type="submit" #reject { "驳回" }
                }
            }
        }
    };
    layout("审核", Some((&staff, &csrf)), body).into_response()
}

fn version(f: &[(String, String)]) -> Option<i64> {
    get(f, "version").parse().ok()
}

pub async fn claim(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Reviewer).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = form(&body);
    if let Err(r) = check_csrf(&staff, &csrf, &f) {
        return r;
    }
    let release = get(&f, "release") == "1";
    match s.svc.review().claim(&staff, &appid, release).await {
        Ok(_) if release => Redirect::to(&format!("/admin?done=released&appid={appid}")).into_response(),
        Ok(_) => Redirect::to(&format!("/admin/review/{appid}")).into_response(),
        Err(e) => error_page(&staff, &csrf, e),
    }
}

pub async fn approve(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Reviewer).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = form(&body);
    if let Err(r) = check_csrf(&staff, &csrf, &f) {
        return r;
    }
    match s.svc.review().review_approve(&staff, &appid, version(&f)).await {
        Ok(_) => Redirect::to(&format!("/admin?done=approved&appid={appid}")).into_response(),
        Err(e) => error_page(&staff, &csrf, e),
    }
}

pub async fn reject(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(appid): Path<String>,
    body: Bytes,
) -> Response {
    let (staff, csrf) = match require(&s, &headers, Role::Reviewer).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = form(&body);
    if let Err(r) = check_csrf(&staff, &csrf, &f) {
        return r;
    }
    let mut reasons: Vec<RejectReason> = f
        .iter()
        .filter(|(k, _)| k == "reason_id")
        .filter_map(|(_, v)| v.parse().ok())
        .map(|id| RejectReason { reason_id: Some(id), ..RejectReason::default() })
        .collect();
    if !get(&f, "key_name").trim().is_empty() || !get(&f, "error").trim().is_empty() {
        reasons.push(RejectReason {
            reason_id: None,
            key_name: get(&f, "key_name").into(),
            error: get(&f, "error").into(),
            suggest: get(&f, "suggest").into(),
        });
    }
    match s.svc.review().review_reject(&staff, &appid, reasons, version(&f)).await {
        Ok(_) => Redirect::to(&format!("/admin?done=rejected&appid={appid}")).into_response(),
        Err(e) => error_page(&staff, &csrf, e),
    }
}

pub async fn media(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((appid, media_id)): Path<(String, String)>,
) -> Response {
    if require(&s, &headers, Role::Reviewer).await.is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match s.svc.materials().get_media(&appid, &media_id).await {
        Ok((meta, bytes)) => ([(header::CONTENT_TYPE, meta.content_type)], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Staff ids and their names, to show who holds a claim.
async fn staff_names(s: &AppState) -> beian_service::Result<std::collections::HashMap<String, String>> {
    Ok(s.svc.review().staff().await?.into_iter().map(|m| (m.id, m.name)).collect())
}

/// The name of the staff member holding a claim (the id if the member is unknown).
fn claimer<'a>(names: &'a std::collections::HashMap<String, String>, id: Option<&'a str>) -> Option<&'a str> {
    id.map(|id| names.get(id).map(String::as_str).unwrap_or(id))
}

/// A new access (新增接入) under review: the number to check the application against.
fn access_request(order: &beian_core::model::FilingOrder) -> maud::Markup {
    html! {
        @if let Some(number) = order.access_number.as_ref().filter(|_| !order.state.is_filed()) {
            p #access-request {
                "新增接入：服务备案号 " strong { (number) }
                "（已通过其他接入服务商备案；请核对主体和负责人与该备案一致，管局确认后备案号不变）"
            }
        }
    }
}
